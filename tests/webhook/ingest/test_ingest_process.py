"""The ingest process (`tocsin serve`'s default): same answers and rows as in-process ingest, 503 while it is
down, a new one started after it dies, metrics and escalation wake-ups carried back to the HTTP process."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from tests.support.clock import FakeClock
from tests.support.harness import WEBHOOK_TOKEN, Harness, make_config
from tests.support.payloads import alert, payload
from webhook import metrics
from webhook.app import build_asgi, create_app
from webhook.incidents.tables import alerts, incidents
from webhook.ingest.process import ProcessIngestor


async def process_harness(db_url: str, tmp_path: Path, **overrides: Any) -> AsyncIterator[Harness]:
    cfg = make_config(db_url, tmp_path, **overrides)
    app = create_app(cfg, clock=FakeClock(), tick_seconds=0, ingest_process=True)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=build_asgi(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://tocsin.test") as client:
            yield Harness(app, client, FakeClock(), cfg)


@pytest.fixture
async def ph(db_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async for h in process_harness(db_url, tmp_path):
        yield h


def count(h: Harness, table: Any) -> int:
    return int(h.app.state.svc.db.run_write(lambda c: c.execute(select(func.count()).select_from(table)).scalar_one()))


def ingestor(h: Harness) -> ProcessIngestor:
    ing = h.app.state.svc.ingestor
    assert isinstance(ing, ProcessIngestor)
    return ing


async def test_bursts_of_duplicates_make_one_incident_in_the_child(ph: Harness) -> None:
    ing = ingestor(ph)
    assert ing.pid is not None and ing.pid != os.getpid()
    body = payload(alert(pod="api-1"), alert(pod="api-2"))
    results = await asyncio.gather(*(ph.post_webhook(body) for _ in range(60)))
    assert {r.status_code for r in results} == {200}
    [inc] = (await ph.api("GET", "/api/v1/incidents")).json()["incidents"]
    assert inc["alert_count"] == 2 and inc["state"] == "triggered"
    assert count(ph, alerts) == 2 and count(ph, incidents) == 1
    resolved = payload(alert(pod="api-1", status="resolved"), alert(pod="api-2", status="resolved"))
    assert (await ph.post_webhook(resolved)).status_code == 200
    [inc] = (await ph.api("GET", "/api/v1/incidents")).json()["incidents"]
    assert inc["state"] == "resolved"


async def test_metrics_of_the_child_reach_the_http_process(ph: Harness) -> None:
    before = metrics.DEDUP_DECISIONS.labels("repeat")._value.get()
    body = payload(alert(pod="m-1"))
    for _ in range(3):
        assert (await ph.post_webhook(body)).status_code == 200
    await asyncio.sleep(0.05)  # summaries arrive with (or just after) the results
    assert metrics.DEDUP_DECISIONS.labels("repeat")._value.get() - before == 2
    text = (await ph.client.get("/metrics")).text
    assert 'tocsin_dedup_decisions_total{reason="new"}' in text


async def test_bad_payloads_are_refused_before_the_child(ph: Harness) -> None:
    r = await ph.client.post("/webhook/alertmanager", content=orjson.dumps({"version": "4"}),
                             headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
    assert r.status_code == 422 and "alerts" in [p["field"] for p in r.json()["problems"]]
    assert count(ph, alerts) == 0


async def test_child_killed_gives_503_then_a_new_child_takes_over(ph: Harness) -> None:
    ing = ingestor(ph)
    ing._restart_delay = 0.2
    first = ing.pid
    assert first is not None
    assert (await ph.post_webhook(payload(alert(pod="before")))).status_code == 200
    os.kill(first, signal.SIGKILL)
    for _ in range(100):  # the HTTP process notices the lost socket
        if not ing.ready():
            break
        await asyncio.sleep(0.02)
    r = await ph.post_webhook(payload(alert(pod="during")))
    if r.status_code != 200:  # unless the new child was already up: then it must have been stored
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert (await ph.client.get("/readyz")).status_code == 503
    await ing.wait_ready(30)
    assert ing.pid != first and ing.starts == 2
    assert (await ph.client.get("/readyz")).status_code == 200
    assert (await ph.post_webhook(payload(alert(pod="after")))).status_code == 200
    assert (await ph.post_webhook(payload(alert(pod="during")))).status_code == 200  # Alertmanager's retry
    assert count(ph, alerts) == 3


async def test_the_child_stops_with_the_service(db_url: str, tmp_path: Path) -> None:
    pid = None
    async for h in process_harness(db_url, tmp_path):
        pid = ingestor(h).pid
        assert (await h.post_webhook(payload(alert()))).status_code == 200
    assert pid is not None
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.05)
    # a zombie until reaped counts as gone
    assert Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"  # noqa: ASYNC240


async def test_escalation_wakes_up_for_incidents_the_child_opened(db_url: str, tmp_path: Path) -> None:
    woken = asyncio.Event()
    async for h in process_harness(db_url, tmp_path, escalation={
            "policies": [{"name": "p", "steps": [{"targets": [{"slack": "#ops"}]}]}], "route": {"policy": "p"}}):
        h.app.state.svc.workers[-1].escalation.on_work = woken.set
        assert (await h.post_webhook(payload(alert(pod="wake")))).status_code == 200
        await asyncio.wait_for(woken.wait(), 10)


async def test_a_stalled_child_gives_503_after_the_commit_timeout(db_url: str, tmp_path: Path) -> None:
    async for h in process_harness(db_url, tmp_path, ingest={"commit_timeout": "1s"}):
        pid = ingestor(h).pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            r = await h.post_webhook(payload(alert(pod="stalled")))
            assert r.status_code == 503 and "did not finish in time" in r.json()["message"]
        finally:
            os.kill(pid, signal.SIGCONT)
        # the late commit is harmless: Alertmanager's retry is a repeat of the stored episode
        assert (await h.post_webhook(payload(alert(pod="stalled")))).status_code == 200
        assert count(h, alerts) == 1
