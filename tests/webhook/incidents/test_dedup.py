"""Webhook deliveries dedup into incidents, on SQLite and PostgreSQL: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from tests.support.harness import Harness
from tests.support.payloads import alert, payload
from webhook.incidents.tables import alerts, incidents, receipts

T0 = datetime(2026, 11, 28, 2, 59, tzinfo=UTC)


async def incidents_list(h: Harness, **params: Any) -> list[dict[str, Any]]:
    r = await h.api("GET", "/api/v1/incidents", params=params)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["incidents"]
    return items


def count(h: Harness, table: Any) -> int:
    db = h.app.state.svc.db
    return int(db.run_write(lambda c: c.execute(select(func.count()).select_from(table)).scalar_one()))


async def test_first_firing_alert_opens_an_incident_with_its_labels(harness: Harness) -> None:
    r = await harness.post_webhook(payload(alert(pod="api-1")))
    assert r.status_code == 200 and r.json() == {"status": "stored", "alerts": 1}
    [inc] = await incidents_list(harness)
    assert inc["state"] == "triggered" and inc["severity"] == "critical"
    assert inc["labels"]["pod"] == "api-1" and inc["title"] == "HighErrorRate: error ratio above 5%"


async def test_repeats_ha_duplicates_and_a_burst_of_200_change_only_counters(harness: Harness) -> None:
    body = payload(alert(pod="api-1"), alert(pod="api-2"))
    results = await asyncio.gather(*(harness.post_webhook(body) for _ in range(200)))
    assert {r.status_code for r in results} == {200}
    [inc] = await incidents_list(harness)
    assert inc["alert_count"] == 2 and inc["firing_alerts"] == 2
    detail = (await harness.api("GET", f"/api/v1/incidents/{inc['id']}")).json()
    assert sorted(a["receive_count"] for a in detail["alerts"]) == [200, 200]
    # the second alert arrived with the first: counted in "opened", not a timeline entry of its own
    assert [e["kind"] for e in detail["timeline"]] == ["opened"]
    assert detail["timeline"][0]["detail"]["alerts"] == 2
    assert count(harness, alerts) == 2 and count(harness, receipts) == 200


async def test_an_alert_joining_later_gets_its_own_timeline_entry(harness: Harness) -> None:
    assert (await harness.post_webhook(payload(alert(pod="api-1")))).status_code == 200
    assert (await harness.post_webhook(payload(alert(pod="api-1"), alert(pod="api-2")))).status_code == 200
    [inc] = await incidents_list(harness)
    detail = (await harness.api("GET", f"/api/v1/incidents/{inc['id']}")).json()
    assert [e["kind"] for e in detail["timeline"]] == ["opened", "alert_joined"]
    assert detail["timeline"][0]["detail"]["alerts"] == 1 and inc["alert_count"] == 2


async def test_alerts_with_other_key_labels_open_separate_incidents(harness: Harness) -> None:
    await harness.post_webhook(payload(alert(namespace="shop"), alert(namespace="billing")))
    assert len(await incidents_list(harness)) == 2


async def test_resolving_part_keeps_open_and_resolving_all_resolves(harness: Harness) -> None:
    a1, a2 = alert(pod="api-1"), alert(pod="api-2")
    await harness.post_webhook(payload(a1, a2))
    await harness.post_webhook(payload({**a1, "status": "resolved", "endsAt": "2026-11-28T03:01:00Z"}, a2))
    [inc] = await incidents_list(harness)
    assert inc["state"] == "triggered" and inc["firing_alerts"] == 1
    await harness.post_webhook(payload({**a2, "status": "resolved", "endsAt": "2026-11-28T03:02:00Z"}))
    [inc] = await incidents_list(harness)
    assert inc["state"] == "resolved" and inc["resolved_by"] == "alertmanager"


async def test_a_new_firing_after_resolution_is_a_new_episode_and_incident(harness: Harness) -> None:
    first = alert(starts=T0)
    await harness.post_webhook(payload(first))
    await harness.post_webhook(payload({**first, "status": "resolved", "endsAt": "2026-11-28T03:05:00Z"}))
    harness.clock.advance(minutes=30)
    await harness.post_webhook(payload(alert(starts=T0 + timedelta(minutes=31))))
    items = await incidents_list(harness)
    assert [i["state"] for i in items] == ["triggered", "resolved"]
    assert count(harness, alerts) == 2


async def test_firing_delivered_after_its_resolve_does_not_reopen(harness: Harness) -> None:
    a = alert()
    await harness.post_webhook(payload(a))
    await harness.post_webhook(payload({**a, "status": "resolved", "endsAt": "2026-11-28T03:05:00Z"}))
    await harness.post_webhook(payload(a))  # a retry from before the resolve, delivered late
    [inc] = await incidents_list(harness)
    assert inc["state"] == "resolved"


async def test_flapping_collapses_into_one_incident_resolved_after_quiet(harness: Harness) -> None:
    for i in range(6):
        start = T0 + timedelta(minutes=i)
        a = alert(starts=start)
        await harness.post_webhook(payload(a))
        harness.clock.advance(seconds=20)
        await harness.post_webhook(payload({**a, "status": "resolved", "endsAt": "2026-11-28T04:00:00Z"}))
        harness.clock.advance(seconds=20)
    items = await incidents_list(harness)
    # changes 1..3 open and resolve the first incident, the re-fire at change 3 opens a second one which
    # reaches the threshold and then absorbs every later flap
    assert len(items) == 2
    flapping = items[0]
    assert flapping["flapping"] and flapping["state"] == "triggered" and flapping["resolve_after"] is not None
    from webhook.app import tick

    harness.clock.advance(minutes=14)
    await tick(harness.app.state.svc)
    assert (await incidents_list(harness))[0]["state"] == "triggered"
    harness.clock.advance(minutes=2)
    await tick(harness.app.state.svc)
    assert (await incidents_list(harness))[0]["state"] == "resolved"


async def test_truncated_alerts_are_recorded_on_the_incident(harness: Harness) -> None:
    await harness.post_webhook(payload(alert(), truncated=7))
    [inc] = await incidents_list(harness)
    assert inc["truncated_alerts"] == 7
    detail = (await harness.api("GET", f"/api/v1/incidents/{inc['id']}")).json()
    assert {"kind": "truncated", "detail": {"truncated_alerts": 7}}.items() <= {
        k: v for e in detail["timeline"] if e["kind"] == "truncated" for k, v in e.items()}.items()


async def test_resolved_for_unknown_alert_is_stored_without_an_incident(harness: Harness) -> None:
    await harness.post_webhook(payload(alert(status="resolved", ends=T0 + timedelta(minutes=5))))
    assert await incidents_list(harness) == []
    assert count(harness, alerts) == 1


async def test_one_payload_with_many_alerts_of_one_group(harness: Harness) -> None:
    body = payload(*(alert(pod=f"api-{i}") for i in range(500)))
    assert (await harness.post_webhook(body)).status_code == 200
    [inc] = await incidents_list(harness)
    assert inc["alert_count"] == 500
    assert count(harness, incidents) == 1


async def test_alert_resolving_after_a_manual_resolve_keeps_who_resolved_it(harness: Harness) -> None:
    a = alert()
    await harness.post_webhook(payload(a))
    [inc] = await incidents_list(harness)
    await harness.api("POST", f"/api/v1/incidents/{inc['id']}/resolve")
    resolved_at = (await incidents_list(harness))[0]["resolved_at"]
    harness.clock.advance(minutes=5)
    await harness.post_webhook(payload({**a, "status": "resolved", "endsAt": "2026-11-28T03:05:00Z"}))
    [after] = await incidents_list(harness)
    assert after["resolved_by"] == "alice"
    assert after["resolved_at"] == resolved_at
    assert after["firing_alerts"] == 0


async def test_the_ingest_process_loop_and_the_writer_thread_commit_the_same(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SQLite ingest runs the whole transaction on the ingest process's loop (production) or on the writer thread
    (ingest.process: false, which the API tests use): the same payloads must give the same rows either way."""
    from tests.support.clock import FakeClock
    from tests.support.harness import make_config
    from webhook.ingest.prepare import decode
    from webhook.ingest.writer import Ingestor
    from webhook.store.db import Database
    from webhook.store.migrate import upgrade

    stored = {}
    for on_loop in (True, False):
        cfg = make_config(f"sqlite:///{tmp_path}/loop-{on_loop}.db", tmp_path)
        db = Database.from_url(cfg.database_url())
        upgrade(db.engine)
        ingestor = Ingestor(db, cfg, FakeClock(), on_loop=on_loop)
        ingestor.start()
        try:
            firing = decode(json.dumps(payload(alert(pod="api-1"), alert(pod="api-2"))).encode(), cfg)
            await asyncio.gather(*(ingestor.submit(firing) for _ in range(50)))
            await ingestor.submit(decode(json.dumps(payload({**alert(pod="api-1"), "status": "resolved",
                                                             "endsAt": "2026-11-28T03:05:00Z"})).encode(), cfg))
        finally:
            await ingestor.stop()
        with db.engine.connect() as conn:
            incs = [tuple(r) for r in conn.execute(select(incidents.c.state, incidents.c.alert_count,
                                                          incidents.c.firing_alerts))]
            eps = sorted(tuple(r) for r in conn.execute(select(alerts.c.status, alerts.c.receive_count)))
        db.close()
        stored[on_loop] = (incs, eps)
    assert stored[True] == stored[False] == ([("triggered", 2, 1)], [("firing", 50), ("resolved", 51)])
