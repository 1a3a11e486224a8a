"""Review finding 3 (PostgreSQL): a bounded number of advisory locks per batch, session timeouts set, and a
stalled peer holding one key's lock cannot stop this replica's ingest of other keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.support.harness import make_config
from tests.support.payloads import alert, payload
from webhook.incidents.events import BatchResult
from webhook.ingest.batch import LOCK_NAMESPACE, LOCK_STRIPES, ingest_batch, stripe_of
from webhook.ingest.prepare import decode
from webhook.store.db import Connection, Database, StorageUnavailable, make_engine
from webhook.store.migrate import upgrade

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


@pytest.fixture
def pg(fresh_pg_url: str, tmp_path: Path) -> Any:
    db = Database(make_engine(fresh_pg_url, lock_timeout_ms=200))
    upgrade(db.engine)
    yield db, make_config(fresh_pg_url, tmp_path)
    db.close()


def _storm(cfg: Any, n: int) -> Any:
    return decode(json.dumps(payload(*[alert(alertname=f"Storm{i}") for i in range(n)])).encode(), cfg)


class CountLocks:
    def __init__(self) -> None:
        self.held = -1

    def on_batch(self, conn: Connection, result: BatchResult, now: datetime) -> None:
        self.held = conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                      " AND pid = pg_backend_pid()")).scalar_one()


def test_a_storm_batch_takes_at_most_one_lock_per_stripe(pg: Any) -> None:
    db, cfg = pg
    counter = CountLocks()
    result = db.run_write(ingest_batch, [_storm(cfg, 3000)], NOW, cfg.incidents.flap, counter)
    assert len(result.opened) == 3000
    assert 0 < counter.held <= LOCK_STRIPES


def test_sessions_have_lock_statement_and_idle_timeouts(pg: Any) -> None:
    db, _ = pg
    with db.engine.connect() as conn:
        got = [conn.execute(text(f"SHOW {name}")).scalar_one()
               for name in ("lock_timeout", "statement_timeout", "idle_in_transaction_session_timeout")]
    assert got == ["200ms", "30s", "1min"]


def test_a_stalled_peer_blocks_only_its_own_stripe(pg: Any, fresh_pg_url: str) -> None:
    db, cfg = pg
    stalled, other = alert(alertname="Stalled"), alert(alertname="Unrelated")
    keys = [decode(json.dumps(payload(a)).encode(), cfg).alerts[0].key for a in (stalled, other)]
    assert stripe_of(keys[0]) != stripe_of(keys[1])  # (chosen so; a shared stripe would wait as well)
    peer = make_engine(fresh_pg_url)
    with peer.connect() as conn:  # a replica partitioned mid-transaction: holds the lock, never commits
        conn.execute(text("BEGIN"))
        conn.execute(text("SELECT pg_advisory_xact_lock(:ns, :s)"), {"ns": LOCK_NAMESPACE, "s": stripe_of(keys[0])})
        db.run_write(ingest_batch, [decode(json.dumps(payload(other)).encode(), cfg)], NOW, cfg.incidents.flap)
        with pytest.raises(StorageUnavailable, match="LockNotAvailable"):  # 503 after lock_timeout, not forever
            db.run_write(ingest_batch, [decode(json.dumps(payload(stalled)).encode(), cfg)], NOW,
                         cfg.incidents.flap)
        conn.execute(text("ROLLBACK"))
    peer.dispose()
    db.run_write(ingest_batch, [decode(json.dumps(payload(stalled)).encode(), cfg)], NOW, cfg.incidents.flap)
