"""Windows mirrored into a real Alertmanager as silences: created with the translated matchers, expired when the
window ends, retried when Alertmanager is down; a silenced alert that resolves is still closed by reconcile."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from remediator.matching import parse_matcher
from tests.support.harness import API_TOKEN
from tests.support.procs import free_port
from tests.webhook.reconcile.amenv import (
    AM,
    Served,
    am_config,
    firing,
    now,
    post_alerts,
    resolved,
    serve_tocsin,
    wait_for,
)
from webhook.config import TocsinConfig
from webhook.config.oncall import TimeWindow
from webhook.windows.mirror import SilenceMirror, am_matcher, occurrence
from webhook.windows.model import Window
from webhook.yamlpos import ConfigError

MATCHERS = ['alertname="DiskFull"', 'instance=~"db-.*"', 'env!="dev"', 'team!~"other|test"']
EXPECTED = [{"name": "alertname", "value": "DiskFull", "isRegex": False, "isEqual": True},
            {"name": "instance", "value": "db-.*", "isRegex": True, "isEqual": True},
            {"name": "env", "value": "dev", "isRegex": False, "isEqual": False},
            {"name": "team", "value": "other|test", "isRegex": True, "isEqual": False}]
T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)  # a Saturday


def window(**kw: Any) -> Window:
    return Window(id=1, comment="", matchers=(parse_matcher('a="b"'),), starts_at=kw.get("starts_at"),
                  ends_at=kw.get("ends_at"), recurrence=kw.get("recurrence"), created_by="alice", created_at=T0,
                  ended_at=kw.get("ended_at"))


def test_matchers_translate_to_alertmanager_api_v2() -> None:
    assert [am_matcher(parse_matcher(m)) for m in MATCHERS] == EXPECTED


def test_the_silence_covers_the_current_or_next_occurrence() -> None:
    sundays = TimeWindow.model_validate({"days": ["sun"], "from": "02:00", "to": "04:00",
                                         "timezone": "Europe/Berlin"})
    sun = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)  # 02:00 in Berlin
    assert occurrence(window(recurrence=sundays), T0) == (sun, sun + timedelta(hours=2))
    assert occurrence(window(recurrence=sundays), sun + timedelta(hours=1)) == (sun + timedelta(hours=1),
                                                                                 sun + timedelta(hours=2))
    assert occurrence(window(recurrence=sundays, ends_at=sun), T0) is None  # bounded before the next Sunday
    one_off = window(starts_at=T0 + timedelta(hours=1), ends_at=T0 + timedelta(hours=3))
    assert occurrence(one_off, T0) == (T0 + timedelta(hours=1), T0 + timedelta(hours=3))
    ended = window(starts_at=T0, ends_at=T0 + timedelta(hours=3), ended_at=T0 + timedelta(minutes=5))
    assert occurrence(ended, T0 + timedelta(minutes=1)) == (T0 + timedelta(minutes=1), T0 + timedelta(minutes=5))
    assert occurrence(ended, T0 + timedelta(minutes=5)) is None


def test_mirroring_needs_an_alertmanager(tmp_path: Path) -> None:
    import yaml

    from webhook.config import load_config

    p = tmp_path / "tocsin.yaml"
    p.write_text(yaml.safe_dump({"windows": {"alertmanager_silences": {"enabled": True}}}))
    with pytest.raises(ConfigError, match="no Alertmanager"):
        load_config(p)
    cfg = TocsinConfig(reconcile={"alertmanagers": ["http://am:9093"]},
                       windows={"alertmanager_silences": {"enabled": True}})
    assert cfg.windows.alertmanager_silences.targets(cfg.reconcile) == ["http://am:9093"]
    assert cfg.windows.alertmanager_silences.created_by == "tocsin"


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
async def tocsin(tmp_path: Path, tocsin_port: int, am: AM) -> AsyncIterator[Served]:
    db_url = f"sqlite:///{tmp_path / 'tocsin.db'}"  # the mirror's storage is the windows table, tested on both
    async with serve_tocsin(db_url, tmp_path, tocsin_port, [am.url],
                            windows={"alertmanager_silences": {"enabled": True}}) as served:
        # Alertmanager judges silences by the real clock: Tocsin's stays a little behind it while the test moves it
        served.clock.current = datetime.now(UTC) - timedelta(seconds=30)
        yield served


async def api(t: Served, method: str, path: str, **kw: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=t.url, timeout=10) as c:
        r = await c.request(method, path, headers={"Authorization": f"Bearer {API_TOKEN}"}, **kw)
        assert r.status_code in (200, 201), r.text
        got: dict[str, Any] = r.json()
        return got


async def am_silence(am: AM, silence_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as c:
        r = await c.get(am.url + f"/api/v2/silence/{silence_id}")
        r.raise_for_status()
        got: dict[str, Any] = r.json()
        return got


@pytest.mark.e2e
async def test_a_window_becomes_a_silence_and_ending_it_expires_the_silence(tocsin: Served, am: AM) -> None:
    mirror = next(w for w in tocsin.svc.singletons if isinstance(w, SilenceMirror))
    labels, starts = {"alertname": "DiskFull", "instance": "db-1", "severity": "critical"}, now()
    await post_alerts([am], [firing(labels, starts)])
    await wait_for("the incident", lambda: _open(tocsin, 1))
    [iid] = await tocsin.open_incidents()

    w = await api(tocsin, "POST", "/api/v1/windows", json={"matchers": MATCHERS, "duration": "1h",
                                                           "comment": "db upgrade"})
    assert w["mirror"] is None  # the leader mirrors it on its next run; creating never waits for Alertmanager
    assert await mirror.sync(tocsin.clock()) == 1
    w = await api(tocsin, "GET", f"/api/v1/windows/{w['id']}")
    assert w["mirror"] == {"state": "ok", "error": None} and w["alertmanager_silence_id"]
    s = await am_silence(am, w["alertmanager_silence_id"])
    assert s["matchers"] == EXPECTED and s["status"]["state"] == "active" and s["createdBy"] == "tocsin"
    assert s["comment"] == f"Tocsin maintenance window #{w['id']} by alice: db upgrade"
    assert await mirror.sync(tocsin.clock()) == 0  # nothing to do while the silence lives

    # silenced, the alert resolves: Alertmanager sends no resolve, reconcile sees it gone and closes it
    await post_alerts([am], [resolved(labels, starts)])
    await tocsin.two_polls()
    assert await tocsin.open_incidents() == {}
    assert (await api(tocsin, "GET", f"/api/v1/incidents/{iid}"))["resolved_by"] == "alertmanager"

    await api(tocsin, "POST", f"/api/v1/windows/{w['id']}/end")
    assert await mirror.sync(tocsin.clock()) == 1
    assert (await am_silence(am, w["alertmanager_silence_id"]))["status"]["state"] == "expired"
    assert await mirror.sync(tocsin.clock()) == 0


@pytest.mark.e2e
async def test_alertmanager_down_leaves_the_mirror_pending_until_it_is_back(tocsin: Served, am: AM) -> None:
    mirror = next(w for w in tocsin.svc.singletons if isinstance(w, SilenceMirror))
    am.stop()
    w = await api(tocsin, "POST", "/api/v1/windows", json={"matchers": ['alertname="DiskFull"'], "duration": "2h"})
    assert await mirror.sync(tocsin.clock()) == 1
    w = await api(tocsin, "GET", f"/api/v1/windows/{w['id']}")
    assert w["mirror"]["state"] == "pending" and am.url in w["mirror"]["error"]
    assert w["alertmanager_silence_id"] is None
    am.start()
    tocsin.clock.advance(seconds=10)
    assert await mirror.tick(tocsin.clock()) == 1  # the leader's next run retries
    w = await api(tocsin, "GET", f"/api/v1/windows/{w['id']}")
    assert w["mirror"] == {"state": "ok", "error": None}
    assert (await am_silence(am, w["alertmanager_silence_id"]))["status"]["state"] == "active"


async def _open(t: Served, n: int) -> bool:
    return len(await t.open_incidents()) == n
