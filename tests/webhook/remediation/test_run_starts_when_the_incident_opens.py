"""A matching run starts right after the commit that opened its incident (woken like escalation), not on the next
tick: with the ticker off, nothing but the wake-up can start it. In process and through the ingest process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from remediator.events import EventKind, RunEvent
from remediator.records import Outcome
from tests.fakekube import FakeKube
from tests.support.clock import FakeClock
from tests.support.harness import WEBHOOK_TOKEN
from tests.support.remediation_env import Sleeper, deliver_body, firing, remediation_config, scale_calls
from webhook.app import build_asgi, create_app
from webhook.remediation.service import Remediation


@pytest.fixture(params=["in_process", "ingest_process"])
async def woken(request: pytest.FixtureRequest, db_url: str, tmp_path: Path, kube: FakeKube, clock: FakeClock,
                sleeper: Sleeper) -> AsyncIterator[tuple[httpx.AsyncClient, Remediation]]:
    """The service with the ticker off (tick_seconds=0) and the remediation worker's wake-up started."""
    cfg = remediation_config(db_url, tmp_path, kube)
    app = create_app(cfg, clock=clock, tick_seconds=0, sleep=sleeper,
                     ingest_process=request.param == "ingest_process")
    async with app.router.lifespan_context(app):
        rem = app.state.remediation
        assert isinstance(rem, Remediation)
        rem.start()  # what the lifespan does when the ticker is on; the ticker itself stays off
        transport = httpx.ASGITransport(app=build_asgi(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://tocsin.test") as client:
            yield client, rem


async def test_a_new_matching_incident_starts_its_run_without_a_tick(
        woken: tuple[httpx.AsyncClient, Remediation], kube: FakeKube) -> None:
    client, rem = woken
    finished = asyncio.Event()
    seen: list[RunEvent] = []

    async def listen(event: RunEvent) -> None:
        seen.append(event)
        if event.kind is EventKind.FINISHED:
            finished.set()

    rem.listeners.append(listen)
    response = await client.post("/webhook/alertmanager", json=deliver_body(firing("ScaleMe")),
                                 headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
    assert response.status_code == 200
    async with asyncio.timeout(30):  # a bound for a broken wake-up, not a timing assumption: no tick ever runs
        await finished.wait()
    assert seen[-1].outcome is Outcome.COMPLETED and scale_calls(kube) == 1
    assert seen[0].kind is EventKind.STARTED
