"""Review findings 4, 15, 20: a payload the database cannot store is refused alone, with a 4xx naming the
field, never 500/503 forever; other payloads of its group commit still commit; no driver text in answers."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.clock import FakeClock
from tests.support.harness import Harness, make_config
from tests.support.payloads import alert, payload
from webhook.ingest import writer
from webhook.ingest.payload import MAX_COUNT, PayloadError
from webhook.ingest.prepare import decode
from webhook.ingest.writer import Ingestor
from webhook.store.db import Database, DataRefused, StorageFailed, StorageUnavailable
from webhook.store.migrate import upgrade


def _body(**over: Any) -> bytes:
    return json.dumps({**payload(alert(pod="api-1")), **over}).encode()


@pytest.mark.parametrize(("body", "field"), [
    (json.dumps(payload(alert(annotations={"summary": "disk\u0000full"}))).encode(), "alerts.0.annotations.summary"),
    (json.dumps(payload(alert(**{"pod": "a\u0000b"}))).encode(), "alerts.0.labels.pod"),
    (_body(receiver="tocsin\u0000"), "receiver"),
])
def test_nul_characters_are_refused_naming_the_field(tmp_path: Path, body: bytes, field: str) -> None:
    with pytest.raises(PayloadError) as err:
        decode(body, make_config("sqlite://", tmp_path))
    assert [p["field"] for p in err.value.problems] == [field]
    assert "NUL" in err.value.problems[0]["message"]


def test_an_escaped_backslash_u0000_is_text_not_nul(tmp_path: Path) -> None:
    body = json.dumps(payload(alert(annotations={"summary": "literal \\u0000 in a message"}))).encode()
    [a] = decode(body, make_config("sqlite://", tmp_path)).alerts
    assert "\\\\u0000" in a.annotations_json


@pytest.mark.parametrize("count", [MAX_COUNT + 1, 2**63])
def test_counts_out_of_the_databases_range_are_refused(tmp_path: Path, count: int) -> None:
    with pytest.raises(PayloadError) as err:
        decode(_body(truncatedAlerts=count), make_config("sqlite://", tmp_path))
    assert err.value.problems[0]["field"] == "truncatedAlerts"


def test_a_timestamp_that_overflows_in_utc_is_422_not_500(tmp_path: Path) -> None:
    """Finding 15: year 1 at +01:00 is before datetime's minimum once converted to UTC."""
    body = json.dumps(payload(alert())).replace("2026-11-28T02:59:00Z", "0001-01-01T00:00:00+01:00").encode()
    assert b"0001-01-01T00:00:00+01:00" in body
    with pytest.raises(PayloadError) as err:
        decode(body, make_config("sqlite://", tmp_path))
    assert "out of range" in err.value.problems[0]["message"]


async def test_webhook_answers_422_for_a_nul_and_stores_the_rest(harness: Harness) -> None:
    good = payload(alert(pod="api-1"))
    bad = payload(alert(pod="api-2", annotations={"summary": "x\u0000"}))
    r_good, r_bad = await asyncio.gather(harness.post_webhook(good), harness.post_webhook(bad))
    assert r_good.status_code == 200
    assert r_bad.status_code == 422
    assert r_bad.json()["problems"][0]["field"] == "alerts.0.annotations.summary"


@pytest.mark.parametrize("error", [sqlite3.DataError("value refused"), psycopg.DataError("untranslatable"),
                                   OverflowError("Python int too large to convert to SQLite INTEGER")])
async def test_one_payload_the_database_refuses_fails_alone(db_url: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    """Finding 4: a driver's data error in a group commit is retried payload by payload; only the payload that
    causes it fails, as DataRefused (the webhook answers 422), and the five others of its batch are stored."""
    cfg = make_config(db_url, tmp_path)
    db = Database.from_url(db_url)
    upgrade(db.engine)
    real = writer.ingest_batch

    def refuse_poison(conn: Any, payloads: Any, *args: Any) -> Any:
        if any(p.receiver == "poison" for p in payloads):
            raise error
        return real(conn, payloads, *args)

    monkeypatch.setattr(writer, "ingest_batch", refuse_poison)
    ingestor = Ingestor(db, cfg, FakeClock())
    ingestor.start()
    try:
        bodies = [payload(alert(pod=f"p{i}")) for i in range(5)] + [payload(alert(pod="x"), receiver="poison")]
        futures = [ingestor.enqueue(decode(json.dumps(b).encode(), cfg)) for b in bodies]  # one batch
        results = await asyncio.gather(*futures, return_exceptions=True)
    finally:
        await ingestor.stop()
        db.close()
    assert results[:5] == [None] * 5
    assert isinstance(results[5], DataRefused)


async def test_503_does_not_echo_the_drivers_text(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding 20: the detail (host, port, role) goes to the log, not to the webhook's caller."""
    async def down(_payload: Any) -> None:
        raise StorageFailed('OperationalError: connection to server at "db.internal" (10.0.0.5), port 5432 '
                                 'failed: FATAL: role "tocsin" does not exist')

    monkeypatch.setattr(harness.app.state.svc.ingestor, "submit", down)
    r = await harness.post_webhook(payload(alert()))
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert "10.0.0.5" not in r.text and "role" not in r.text and "db.internal" not in r.text


def test_the_ingest_process_reports_refusals_by_kind_without_the_drivers_text() -> None:
    from webhook.ingest.process import error_from_text, error_text

    secret = 'OperationalError: connection to server at "db.internal" (10.0.0.5) failed'
    assert "10.0.0.5" not in error_text(StorageFailed(secret))
    assert isinstance(error_from_text(error_text(DataRefused(secret))), DataRefused)
    assert "10.0.0.5" not in str(error_from_text(error_text(DataRefused(secret))))
    assert str(error_from_text(error_text(StorageUnavailable("commit did not finish in time")))) \
        == "commit did not finish in time"
