"""Review findings 17 and 18: the ingest queue is bounded and skips payloads already answered; a batch reads
only the alert episodes it can meet, not a fingerprint's whole history."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.clock import FakeClock
from tests.support.harness import make_config
from tests.support.payloads import alert, payload
from webhook.ingest import writer
from webhook.ingest.batch import ingest_batch
from webhook.ingest.prepare import decode
from webhook.ingest.writer import Ingestor
from webhook.store.db import Database, StorageUnavailable
from webhook.store.migrate import upgrade
from webhook.store.raw import Raw


def _prepared(cfg: Any, **labels: str) -> Any:
    return decode(json.dumps(payload(alert(**labels))).encode(), cfg)


@pytest.fixture
def db(tmp_path: Path) -> Any:
    d = Database.from_url(f"sqlite:///{tmp_path}/q.db")
    upgrade(d.engine)
    yield d
    d.close()


async def test_a_full_queue_answers_503_at_once(db: Database, tmp_path: Path) -> None:
    cfg = make_config("sqlite://", tmp_path, ingest={"max_queue": 2})
    ingestor = Ingestor(db, cfg, FakeClock())
    ingestor.start()
    try:
        first = [ingestor.enqueue(_prepared(cfg, pod=f"p{i}")) for i in range(2)]
        with pytest.raises(StorageUnavailable, match="queue full"):
            ingestor.enqueue(_prepared(cfg, pod="p3"))
        await asyncio.gather(*first)
    finally:
        await ingestor.stop()


async def test_a_payload_that_timed_out_is_not_committed_later(db: Database, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """While the writer is stuck, a later payload times out (503, Alertmanager re-sends it); the writer then
    skips it instead of committing work that was already answered."""
    cfg = make_config("sqlite://", tmp_path, ingest={"commit_timeout": "50ms"})
    release, seen, holding = threading.Event(), [], asyncio.Event()
    real, loop = writer.ingest_batch, asyncio.get_running_loop()

    def stuck(conn: Any, payloads: Any, *args: Any) -> Any:
        seen.append([p.alerts[0].fingerprint for p in payloads])
        loop.call_soon_threadsafe(holding.set)
        release.wait(10)
        return real(conn, payloads, *args)

    monkeypatch.setattr(writer, "ingest_batch", stuck)
    ingestor = Ingestor(db, cfg, FakeClock())
    ingestor.start()
    try:
        a, b = _prepared(cfg, pod="a"), _prepared(cfg, pod="b")
        first = asyncio.ensure_future(ingestor.submit(a))
        await holding.wait()  # the writer holds payload a
        with pytest.raises(StorageUnavailable, match="in time"):
            await ingestor.submit(b)
        release.set()
        with pytest.raises(StorageUnavailable, match="in time"):
            await first  # a timed out too while the writer was stuck; it was committed all the same
        await ingestor.submit(_prepared(cfg, pod="c"))
    finally:
        release.set()
        await ingestor.stop()
    assert seen[0] == [a.alerts[0].fingerprint]
    assert all(b.alerts[0].fingerprint not in batch for batch in seen)


def test_a_batch_reads_only_the_episodes_it_can_meet(db: Database, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = make_config("sqlite://", tmp_path)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for k in range(30):  # a long-flapping alert: 30 stored episodes of one fingerprint
        start = t0 + timedelta(hours=k)
        body = payload(alert(pod="flappy", starts=start), {**alert(pod="flappy", starts=start), "status": "resolved",
                                                           "endsAt": (start + timedelta(minutes=5)).isoformat()})
        db.run_write(ingest_batch, [decode(json.dumps(body).encode(), cfg)], start, cfg.incidents.flap)
    rows: list[int] = []
    real = Raw.select_in

    def counting(self: Raw, text: str, values: Any, extra: Any = (), prepare: bool | None = None) -> Any:
        out = real(self, text, values, extra, prepare)
        if "FROM alerts" in text:
            rows.append(len(out))
        return out

    monkeypatch.setattr(Raw, "select_in", counting)
    latest = t0 + timedelta(hours=29)
    db.run_write(ingest_batch, [decode(json.dumps(payload(alert(pod="flappy", starts=latest))).encode(), cfg)],
                 latest + timedelta(minutes=1), cfg.incidents.flap)
    assert rows == [1]
