"""Reconcile against the real Alertmanager: (a) an alert Alertmanager no longer has closes its incident after two
polls, (b) alerts a truncated webhook left out are adopted, (c) silences and inhibitions show on the incident."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support.procs import free_port
from tests.webhook.reconcile.amenv import (
    AM,
    Served,
    am_config,
    counter,
    expire,
    firing,
    listing,
    now,
    pair,
    polls,
    post_alerts,
    resolved,
    serve_tocsin,
    silence,
    wait_for,
)

pytestmark = [pytest.mark.e2e]  # make test installs Debian's prometheus-alertmanager (scripts/sysdeps.sh)


@pytest.fixture
def tocsin_port() -> int:
    return free_port()


@pytest.fixture
def am(tmp_path: Path, tocsin_port: int) -> Iterator[AM]:
    one = AM(tmp_path / "am", am_config(tocsin_port))
    one.start()
    yield one
    one.stop()


@pytest.fixture
async def tocsin(db_url: str, tmp_path: Path, tocsin_port: int, am: AM) -> AsyncIterator[Served]:
    async with serve_tocsin(db_url, tmp_path, tocsin_port, [am.url]) as served:
        yield served


async def one_open_incident(t: Served, alerts: int) -> int:
    """Wait until the webhook delivered: one open incident with `alerts` firing alerts; its id."""
    async def check() -> bool:
        found = await t.open_incidents()
        return len(found) == 1 and len(next(iter(found.values()))) == alerts
    await wait_for(f"one open incident with {alerts} firing alerts", check)
    return next(iter(await t.open_incidents()))


async def test_a_silenced_alert_resolved_in_alertmanager_closes_after_two_polls(tocsin: Served, am: AM) -> None:
    """Alertmanager sends no "resolved" for an alert silenced after it fired: reconcile closes the incident."""
    labels, starts = {"alertname": "DiskFull", "severity": "critical"}, now() - timedelta(seconds=5)
    await post_alerts([am], [firing(labels, starts), firing({"alertname": "Other", "team": "other"}, starts)])
    iid = await one_open_incident(tocsin, 1)
    await silence(am, {"alertname": "DiskFull"})
    await post_alerts([am], [resolved(labels, starts)])
    closed = counter("tocsin_reconcile_closed_total")

    await tocsin.poll()
    assert iid in await tocsin.open_incidents(), "one poll decides nothing"
    await tocsin.two_polls()

    assert await tocsin.open_incidents() == {}, "the other team's alert is not Tocsin's: nothing adopted"
    detail = await tocsin.incident(iid)
    assert detail["state"] == "resolved" and detail["resolved_by"] == "alertmanager"
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds.index("gone_from_alertmanager") < kinds.index("resolved")
    gone = next(e for e in detail["timeline"] if e["kind"] == "gone_from_alertmanager")
    assert gone["detail"]["message"] == "gone from Alertmanager"
    assert counter("tocsin_reconcile_closed_total") == closed + 1
    assert detail["suppression"] is None


async def test_truncated_webhooks_are_adopted_and_their_resolves_closed(tocsin: Served, am: AM) -> None:
    """max_alerts: 2 drops three of five alerts from the webhook; reconcile adopts them, then closes those whose
    resolve a truncated webhook dropped too."""
    starts = now() - timedelta(seconds=5)
    group = [{"alertname": "PodCrash", "pod": f"p{i}", "severity": "high"} for i in range(5)]
    await post_alerts([am], [firing(labels, starts) for labels in group])
    # Alertmanager may flush while the five are still arriving; the flush of all five reports 3 truncated
    await wait_for("the webhook of all five, truncated", lambda: _truncated(tocsin, 1))
    (iid, delivered), = (await tocsin.open_incidents()).items()
    assert len(delivered) < 5
    adopted = counter("tocsin_reconcile_adopted_total")

    await tocsin.two_polls()
    assert len((await tocsin.open_incidents())[iid]) == 5
    entries = [d for kind, d in await tocsin.timeline(iid) if kind == "adopted_from_alertmanager"]
    assert entries and entries[0]["message"].startswith("adopted from Alertmanager")
    assert counter("tocsin_reconcile_adopted_total") == adopted + len(entries)

    await post_alerts([am], [resolved(labels, starts) for labels in group])
    await wait_for("the resolve of all five, truncated", lambda: _truncated(tocsin, 2))
    assert len((await tocsin.open_incidents()).get(iid, [])) >= 3, "the webhook resolved at most two"
    await tocsin.two_polls()
    assert await tocsin.open_incidents() == {}


async def _truncated(t: Served, n: int) -> bool:
    """n webhooks with truncatedAlerts: 3 were received (each adds a `truncated` entry to the incident)."""
    seen = 0
    for incident in await t.open_incidents():
        seen += sum(1 for kind, d in await t.timeline(incident) if kind == "truncated" and d["truncated_alerts"] == 3)
    return seen >= n


async def test_silences_and_inhibitions_show_on_the_incident(tocsin: Served, am: AM) -> None:
    starts = now() - timedelta(seconds=5)
    a = {"alertname": "Latency", "cluster": "c1", "severity": "warning", "pod": "a"}
    b = {**a, "pod": "b"}
    await post_alerts([am], [firing(a, starts), firing(b, starts)])
    iid = await one_open_incident(tocsin, 2)

    sid = await silence(am, {"alertname": "Latency", "pod": "a"}, comment="swapping disk a", by="bob")
    await tocsin.poll()  # suppression needs one complete poll, not two
    detail = await tocsin.incident(iid)
    assert detail["suppression"]["silenced_by"] == [sid]
    assert (detail["suppression"]["suppressed_alerts"], detail["suppression"]["listed_alerts"]) == (1, 2)
    assert detail["suppression"]["silences"][0] | {"ends_at": None} == {
        "id": sid, "comment": "swapping disk a", "created_by": "bob", "ends_at": None}
    entry = next(e for e in detail["timeline"] if e["kind"] == "silenced")["detail"]
    assert (entry["silence_id"], entry["comment"], entry["created_by"]) == (sid, "swapping disk a", "bob")
    assert detail["state"] == "triggered", "escalation behaviour is unchanged: only shown"

    await tocsin.poll()
    assert [k for k, _ in await tocsin.timeline(iid)].count("silenced") == 1, "an unchanged silence: no new entry"

    await expire(am, sid)
    await post_alerts([am], [firing({"alertname": "NodeDown", "cluster": "c1", "severity": "critical"}, starts)])
    await wait_for("NodeDown's incident", lambda: _open_count(tocsin, 2))
    await wait_for("the inhibition", lambda: _inhibited(am, 2))
    await tocsin.poll()
    detail = await tocsin.incident(iid)
    assert detail["suppression"]["silenced_by"] == []
    assert len(detail["suppression"]["inhibited_by"]) == 1 and detail["suppression"]["suppressed_alerts"] == 2
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds[-2:] == ["unsilenced", "inhibited"]
    assert iid in await tocsin.open_incidents(), "suppressed alerts are listed: not gone"


async def _inhibited(am: AM, n: int) -> bool:
    return sum(1 for a in (await listing([am])).values() if a["status"]["inhibitedBy"]) == n


async def _open_count(t: Served, n: int) -> bool:
    return len(await t.open_incidents()) == n


async def test_a_poll_without_every_alertmanager_of_the_pair_decides_nothing(db_url: str, tmp_path: Path) -> None:
    port = free_port()
    ams = pair(tmp_path, am_config(port))
    for am in ams:
        am.start()
    try:
        async with serve_tocsin(db_url, tmp_path, port, [am.url for am in ams]) as t:
            labels, starts = {"alertname": "Quota", "severity": "low"}, now() - timedelta(seconds=5)
            await post_alerts(ams, [firing(labels, starts)])
            iid = await one_open_incident(t, 1)
            ams[1].stop()
            await silence(ams[0], {"alertname": "Quota"})
            await post_alerts(ams[:1], [resolved(labels, starts)])  # no webhook (silenced); AM-1 is down
            failed = polls("failed")
            for _ in range(4):
                t.clock.advance(seconds=30)
                assert await t.tick() == 0
            assert polls("failed") == failed + 4
            assert iid in await t.open_incidents(), "AM-1 did not answer: nothing may be decided"
            ams[1].start()  # without the alert: Alertmanager keeps no alerts across a restart
            await t.two_polls()
            assert await t.open_incidents() == {}
    finally:
        for am in ams:
            am.stop()


async def test_an_alert_back_after_a_restart_without_state_is_adopted_again(tocsin: Served, am: AM) -> None:
    """Alertmanager restarted without its data: the incident closes; Prometheus then resends the alert with its
    old startsAt, which the webhook path takes as stale. Reconcile adopts it as a new episode."""
    labels, starts = {"alertname": "Backup", "severity": "high"}, now() - timedelta(seconds=5)
    await post_alerts([am], [firing(labels, starts)])
    await one_open_incident(tocsin, 1)
    am.restart(wipe=True)
    await tocsin.two_polls()
    assert await tocsin.open_incidents() == {}

    await post_alerts([am], [firing(labels, starts)])
    await tocsin.two_polls()
    (iid, keys), = (await tocsin.open_incidents()).items()
    assert len(keys) == 1
    entry = next(d for kind, d in await tocsin.timeline(iid) if kind == "adopted_from_alertmanager")
    assert entry["message"].startswith("adopted from Alertmanager: firing again")

    await post_alerts([am], [resolved(labels, starts)])
    await tocsin.two_polls()
    assert await tocsin.open_incidents() == {}
