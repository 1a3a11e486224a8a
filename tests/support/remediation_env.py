"""The service with remediation on, against the fake Kubernetes API server, with fake time (the `svc` fixture)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import create_engine, text

from remediator.records import RunStatus
from tests.fakekube import FakeKube
from tests.support.clock import FakeClock
from tests.support.harness import API_TOKEN, WEBHOOK_TOKEN, make_config
from tests.support.payloads import alert, payload
from webhook.app import build_asgi, create_app
from webhook.config import TocsinConfig
from webhook.remediation.service import Remediation

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
NOWHERE = "http://127.0.0.1:9"  # connection refused at once: Prometheus "down"

#: Small runbooks without Prometheus: one scales, one asks for approval first, one verifies (and hangs).
TEST_RUNBOOKS = {
    "scale-me.yaml": """
id: scale-me
description: add a replica
owner: team-test
match: ['alertname="ScaleMe"']
target: {namespace: "{{ labels.namespace }}", deployment: "{{ labels.deployment }}"}
steps: [{action: scale, by: 1, max: 10}]
safety: {cooldown: 0s, hold_escalation_for: 10m}
""",
    "approve-me.yaml": """
id: approve-me
description: ask, then add a replica
owner: team-test
match: ['alertname="ApproveMe"']
target: {namespace: "{{ labels.namespace }}", deployment: "{{ labels.deployment }}"}
steps: [{action: approval, message: "scale {{ target.deployment }}?"}, {action: scale, by: 1, max: 10}]
safety: {cooldown: 0s}
""",
    "verify-me.yaml": """
id: verify-me
description: add a replica and verify
owner: team-test
match: ['alertname="VerifyMe"']
target: {namespace: "{{ labels.namespace }}", deployment: "{{ labels.deployment }}"}
steps: [{action: scale, by: 1, max: 10}]
verify: {query: up, within: 10m, interval: 30s}
""",
}


class Sleeper:
    """Engine sleep on fake time: advances the service clock; `block` makes it hang (a process about to die)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.block = False
        self.blocked = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        if self.block:
            self.blocked.set()
            await asyncio.Event().wait()
        self.clock.advance(seconds=seconds)
        await asyncio.sleep(0)


@dataclass
class Svc:
    app: FastAPI
    client: httpx.AsyncClient
    clock: FakeClock
    rem: Remediation

    async def deliver(self, body: Any, token: str = WEBHOOK_TOKEN) -> httpx.Response:
        return await self.client.post("/webhook/alertmanager", json=body, headers={"Authorization": f"Bearer {token}"})

    async def api(self, method: str, path: str, token: str = API_TOKEN, **kwargs: Any) -> httpx.Response:
        return await self.client.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)

    async def incident(self, incident_id: int) -> dict[str, Any]:
        response = await self.api("GET", f"/api/v1/incidents/{incident_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def only_incident_id(self) -> int:
        [inc] = (await self.api("GET", "/api/v1/incidents")).json()["incidents"]
        return int(inc["id"])


def remediation_config(db_url: str, tmp_path: Path, kube: FakeKube, prometheus_url: str = NOWHERE,
                       runbooks_dir: Path | None = None, **extra: Any) -> TocsinConfig:
    if runbooks_dir is None:
        runbooks_dir = tmp_path / "runbooks"
        runbooks_dir.mkdir(exist_ok=True)
        for name, body in TEST_RUNBOOKS.items():
            (runbooks_dir / name).write_text(body)
    section = {"enabled": True, "runbooks_dir": str(runbooks_dir), "prometheus_url": prometheus_url,
               "cluster": {"mode": "token", "host": kube.url, "token": "test-token"}, **extra}
    return make_config(db_url, tmp_path, remediation=section)


async def start_service(cfg: TocsinConfig, clock: FakeClock, sleeper: Sleeper) -> AsyncIterator[Svc]:
    app = create_app(cfg, clock=clock, tick_seconds=0, sleep=sleeper)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=build_asgi(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://tocsin.test") as client:
            rem = app.state.remediation
            assert isinstance(rem, Remediation)
            yield Svc(app, client, clock, rem)


def firing(alertname: str, minute: int = 59, **labels: str) -> dict[str, Any]:
    from datetime import UTC, datetime

    return alert(starts=datetime(2026, 11, 28, 2, minute, tzinfo=UTC), **{
        "alertname": alertname, "severity": "high", "deployment": "api", **labels})


def deliver_body(*alerts: dict[str, Any]) -> dict[str, Any]:
    return payload(*alerts)


def count_rows(db_url: str, table: str, where: str = "1=1") -> int:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        n = int(conn.execute(text(f"SELECT COUNT(*) FROM {table} WHERE {where}")).scalar_one())
    engine.dispose()
    return n


def scale_calls(kube: FakeKube) -> int:
    return sum(1 for r in kube.requests if r.verb == "patch" and r.subresource == "scale")


HOLD = timedelta(minutes=10)


async def waiting_run(svc: Svc) -> dict[str, Any]:
    """A run of approve-me, waiting for its approval; its detail as the API shows it."""
    await svc.deliver(deliver_body(firing("ApproveMe")))
    [run] = await svc.rem.run_pending()
    assert run.status is RunStatus.AWAITING_APPROVAL
    detail: dict[str, Any] = (await svc.api("GET", f"/api/v1/runs/{run.id}")).json()
    return detail
