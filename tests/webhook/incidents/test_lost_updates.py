"""Review finding 1: no lost update between ingest and the API or the timers, on SQLite and PostgreSQL.

Each test stops one transaction right after its first read and lets a second handle on the same database try
to commit the conflicting change at that exact point (an `impatient` handle fails at once where it would have
to wait for a lock). Before the fix, the second change committed inside the window and the first transaction
then wrote its stale state over it; now it has to wait (or, on PostgreSQL, is detected by compare-and-set).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select, update

from tests.support.harness import make_config
from tests.support.interleave import after_first_select, impatient
from tests.support.payloads import alert, payload
from webhook.incidents import actions
from webhook.incidents.tables import incidents
from webhook.ingest import batch as ingest_batch_module
from webhook.ingest.batch import IngestBatch, ingest_batch
from webhook.ingest.prepare import decode
from webhook.store.db import Database, StorageUnavailable
from webhook.store.migrate import upgrade

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
FIRING = alert(pod="api-1")
RESOLVED = {**FIRING, "status": "resolved", "endsAt": "2026-11-28T03:01:00Z"}


@pytest.fixture
def stores(db_url: str, tmp_path: Path) -> Any:
    cfg = make_config(db_url, tmp_path)
    main = Database.from_url(db_url)
    upgrade(main.engine)
    other = impatient(db_url)
    yield cfg, main, other
    other.close()
    main.close()


def _ingest(db: Database, cfg: Any, body: dict[str, Any], now: datetime = T0) -> Any:
    prepared = decode(json.dumps(payload(body)).encode(), cfg)
    return db.run_write(ingest_batch, [prepared], now, cfg.incidents.flap)


def _incident(db: Database) -> Any:
    with db.engine.connect() as conn:
        return conn.execute(select(incidents)).one()


def _try(attempts: list[str], fn: Any) -> None:
    try:
        fn()
        attempts.append("committed")
    except StorageUnavailable:
        attempts.append("had to wait")


def test_an_ack_cannot_overwrite_alertmanagers_resolve(stores: Any) -> None:
    """Scenario 1: the resolve tries to commit between the ack's read and its write."""
    cfg, main, other = stores
    _ingest(main, cfg, FIRING)
    iid = _incident(main).id
    attempts: list[str] = []
    resolve = lambda: _ingest(other, cfg, RESOLVED, T0 + timedelta(minutes=1))

    def ack(conn: Connection) -> Any:
        after_first_select(conn, lambda: _try(attempts, resolve))
        return actions.act(conn, iid, "ack", "alice", T0 + timedelta(seconds=30))

    main.run_write(ack)
    assert attempts == ["had to wait"]
    _ingest(other, cfg, RESOLVED, T0 + timedelta(minutes=1))  # Alertmanager's retry, after the ack committed
    inc = _incident(main)
    assert (inc.state, inc.firing_alerts, inc.acked_by, inc.resolved_by) == ("resolved", 0, "alice", "alertmanager")


def test_ingest_cannot_overwrite_a_human_ack(stores: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scenario 4: the ack tries to commit after ingest read the incident and before it writes it back."""
    cfg, main, other = stores
    _ingest(main, cfg, FIRING)
    iid = _incident(main).id
    attempts: list[str] = []
    decide = IngestBatch.decide

    def ack_meanwhile(self: IngestBatch, payloads: Any) -> None:
        _try(attempts, lambda: other.run_write(actions.act, iid, "ack", "alice", T0 + timedelta(seconds=30)))
        decide(self, payloads)

    monkeypatch.setattr(IngestBatch, "decide", ack_meanwhile)
    _ingest(main, cfg, alert(pod="api-2"), T0 + timedelta(seconds=40))  # a second alert joins the incident
    monkeypatch.setattr(IngestBatch, "decide", decide)
    assert attempts == ["had to wait"]
    other.run_write(actions.act, iid, "ack", "alice", T0 + timedelta(seconds=50))  # the click, retried
    inc = _incident(main)
    assert (inc.state, inc.firing_alerts, inc.acked_by) == ("acknowledged", 2, "alice")


def test_quiet_resolve_cannot_swallow_a_re_fire(stores: Any) -> None:
    """Scenario 2: the alert fires again between the quiet-period resolve's read and its write."""
    cfg, main, other = stores
    _ingest(main, cfg, FIRING)
    _ingest(main, cfg, RESOLVED, T0 + timedelta(minutes=1))
    with main.engine.begin() as conn:  # a flapping incident in its quiet period
        conn.execute(update(incidents).values(state="triggered", flapping=True, firing_alerts=0,
                                              resolved_at=None, resolved_by=None,
                                              resolve_after=T0 + timedelta(minutes=5)))
    refire = alert(pod="api-1", starts=T0 + timedelta(minutes=6))
    attempts: list[str] = []
    now = T0 + timedelta(minutes=7)

    def quiet(conn: Connection) -> list[int]:
        after_first_select(conn, lambda: _try(attempts, lambda: _ingest(other, cfg, refire, now)))
        return actions.resolve_quiet(conn, now)

    resolved = main.run_write(quiet)
    if attempts == ["had to wait"]:  # SQLite: the write lock was held from the read; the re-fire comes after
        assert resolved
        _ingest(other, cfg, refire, now + timedelta(seconds=1))
    else:  # PostgreSQL: the re-fire committed in the window; compare-and-set kept the incident open
        assert attempts == ["committed"] and resolved == []
    inc = _latest(main)  # the same incident, or the one the re-fire opened after it resolved
    assert inc.firing_alerts == 1 and inc.state == "triggered"


def test_a_snooze_wake_up_cannot_reopen_a_resolved_incident(stores: Any) -> None:
    """Scenario 3: Alertmanager resolves the incident between the wake-up's read and its write."""
    cfg, main, other = stores
    _ingest(main, cfg, FIRING)
    iid = _incident(main).id
    main.run_write(actions.act, iid, "snooze", "alice", T0 + timedelta(seconds=10), until=T0 + timedelta(hours=1))
    attempts: list[str] = []
    now = T0 + timedelta(hours=2)

    def wake(conn: Connection) -> list[int]:
        after_first_select(conn, lambda: _try(attempts, lambda: _ingest(other, cfg, RESOLVED, now)))
        return actions.wake_snoozed(conn, now)

    woken = main.run_write(wake)
    if attempts == ["had to wait"]:  # SQLite: woken first, then the resolve lands
        assert woken == [iid]
        _ingest(other, cfg, RESOLVED, now + timedelta(seconds=1))
    else:  # PostgreSQL: resolved in the window; the wake-up left it alone
        assert attempts == ["committed"] and woken == []
    inc = _incident(main)
    assert (inc.state, inc.firing_alerts, inc.resolved_by) == ("resolved", 0, "alertmanager")


def _all(db: Database) -> Any:
    with db.engine.connect() as conn:
        return list(conn.execute(select(incidents)))


def _latest(db: Database) -> Any:
    return max(_all(db), key=lambda r: r.id)


def test_the_ingest_batch_locks_stripes_not_keys() -> None:
    """Keys hash onto a bounded set of stripes (review finding 3a); the same key always onto the same one."""
    stripes = {ingest_batch_module.stripe_of(f"key-{i}") for i in range(5000)}
    assert len(stripes) <= ingest_batch_module.LOCK_STRIPES
    assert ingest_batch_module.stripe_of("k") == ingest_batch_module.stripe_of("k")


def test_one_payload_resolving_an_incident_and_opening_the_next_of_its_key(stores: Any) -> None:
    """Found while fixing issue 10: a group that resolves an incident's last alert and fires a new alert of the
    same key (below the flap threshold) failed on the one-open-incident-per-key index, 503 on every retry."""
    cfg, main, _ = stores
    _ingest(main, cfg, FIRING)
    later = alert(pod="api-1", starts=T0 + timedelta(minutes=30))
    both = decode(json.dumps(payload(RESOLVED, later)).encode(), cfg)
    main.run_write(ingest_batch, [both], T0 + timedelta(minutes=31), cfg.incidents.flap)
    states = sorted((r.state, r.firing_alerts) for r in _all(main))
    assert states in ([("resolved", 0), ("triggered", 1)], [("triggered", 1)])  # a new incident, or a flap re-open
    assert ("triggered", 1) in states
