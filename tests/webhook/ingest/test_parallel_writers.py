"""PostgreSQL runs `ingest.writers` ingest transactions at once; the incident keys' striped locks still make
payloads of one key join one incident. SQLite keeps one writer."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.support.clock import FakeClock
from tests.support.harness import make_config
from tests.support.payloads import alert, payload
from webhook.ingest import writer
from webhook.ingest.prepare import decode
from webhook.ingest.writer import Ingestor
from webhook.store.db import Database
from webhook.store.migrate import upgrade


def test_sqlite_has_one_writer(tmp_path: Path) -> None:
    db = Database.from_url(f"sqlite:///{tmp_path}/w.db", writers=4)
    try:
        assert db.writers == 1
    finally:
        db.close()


async def test_parallel_transactions_of_one_key_make_one_incident(fresh_pg_url: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Four transactions open at once (a barrier before any takes its locks), each with an alert of the same
    incident key: one opens the incident, the three others wait for its stripe lock and join it."""
    n = 4
    cfg = make_config(fresh_pg_url, tmp_path, ingest={"writers": n, "max_batch": 1})
    db = Database.from_url(fresh_pg_url, writers=n)
    upgrade(db.engine)
    barrier, real = threading.Barrier(n, timeout=20), writer.ingest_batch
    threads: set[str] = set()

    def together(conn: Any, payloads: Any, *args: Any) -> Any:
        threads.add(threading.current_thread().name)
        barrier.wait()
        return real(conn, payloads, *args)

    monkeypatch.setattr(writer, "ingest_batch", together)
    ingestor = Ingestor(db, cfg, FakeClock())
    ingestor.start()
    try:
        prepared = [decode(json.dumps(payload(alert(pod=f"web-{i}"))).encode(), cfg) for i in range(n)]
        await asyncio.wait_for(asyncio.gather(*[ingestor.enqueue(p) for p in prepared]), 30)
    finally:
        await ingestor.stop()
    assert len(threads) == n  # really n transactions at once, on n writer threads
    with db.engine.connect() as conn:
        incidents = conn.execute(text("SELECT state, firing_alerts, alert_count FROM incidents")).all()
        alerts = conn.execute(text("SELECT count(DISTINCT incident_id), count(*) FROM alerts")).one()
    db.close()
    assert [tuple(r) for r in incidents] == [("triggered", n, n)]
    assert tuple(alerts) == (1, n)
