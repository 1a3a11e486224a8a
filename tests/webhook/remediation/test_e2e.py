"""In process end to end: webhook -> incident -> runbook on the fake cluster -> real Prometheus -> timeline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from remediator.events import EventKind, RunEvent
from remediator.prometheus import Prometheus
from remediator.records import Outcome
from tests.fakekube import FakeKube
from tests.fakekube import builders as b
from tests.support.clock import FakeClock
from tests.support.exporter import TestExporter
from tests.support.procs import Proc, start_prometheus
from tests.support.remediation_env import (
    RUNBOOKS,
    Sleeper,
    Svc,
    deliver_body,
    firing,
    remediation_config,
    start_service,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def exporter() -> Iterator[TestExporter]:
    exp = TestExporter()
    yield exp
    exp.close()


@pytest.fixture(scope="module")
def prometheus_proc(tmp_path_factory: pytest.TempPathFactory, exporter: TestExporter) -> Iterator[Proc]:
    proc = start_prometheus(tmp_path_factory.mktemp("prometheus"), scrape_targets=[exporter.target])
    yield proc
    proc.stop()


async def wait_until_holds(prometheus: Prometheus, query: str) -> None:
    """Poll the real Prometheus (1 s scrape) with a generous bound."""
    for _ in range(150):
        if await prometheus.holds(query):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"Prometheus never saw {query}")


@pytest.fixture
async def e2e(db_url: str, tmp_path: Path, kube: FakeKube, clock: FakeClock, sleeper: Sleeper,
              prometheus_proc: Proc) -> AsyncIterator[Svc]:
    cfg = remediation_config(db_url, tmp_path, kube, prometheus_url=prometheus_proc.url, runbooks_dir=RUNBOOKS,
                             resolve_on_verified=True)
    async for svc in start_service(cfg, clock, sleeper):
        yield svc


async def test_a_celery_backlog_is_fixed_verified_and_the_incident_resolved(
        e2e: Svc, kube: FakeKube, exporter: TestExporter, db_url: str) -> None:
    queue = f"e2e-{db_url.split(':')[0]}"
    series = f'celery_queue_length{{queue_name="{queue}"}}'
    b.deployment(kube, "erp", "celery-worker", 4)
    exporter.set(series, 500)
    await wait_until_holds(e2e.rem.prometheus, f"{series} > 100")
    seen: list[RunEvent] = []

    async def heal_when_verifying(event: RunEvent) -> None:  # the fix "works": the backlog drains
        seen.append(event)
        if event.kind is EventKind.VERIFYING:
            exporter.set(series, 10)
            await wait_until_holds(e2e.rem.prometheus, f"sum({series}) < 100")

    e2e.rem.listeners.append(heal_when_verifying)
    try:
        alert = firing("CeleryQueueBacklog", namespace="erp", queue=queue)
        del alert["labels"]["deployment"]
        assert (await e2e.deliver(deliver_body(alert))).status_code == 200
        [run] = await e2e.rem.run_pending()
    finally:
        exporter.remove(series)
    assert run.outcome is Outcome.VERIFIED, run.reason
    assert len(b.pods_of(kube, "erp", "celery-worker")) == 6
    incident = await e2e.incident(int(run.incident_id or 0))
    kinds = [e["kind"] for e in incident["timeline"]]
    assert kinds[:1] == ["opened"] and kinds[-6:] == [
        "remediation_started", "remediation_progress", "remediation_progress", "remediation_verifying",
        "remediation_verified", "resolved"]
    assert incident["state"] == "resolved" and incident["resolved_by"] == "tocsin-remediation"
    progress = [e["detail"]["message"] for e in incident["timeline"] if e["kind"] == "remediation_progress"]
    assert progress[0] == "scale Deployment erp/celery-worker 4 -> 6"
    assert [e.kind for e in seen][-1] is EventKind.FINISHED and seen[-1].page is False
    text = (await e2e.client.get("/metrics")).text
    assert 'tocsin_remediation_runs_total{outcome="verified",runbook="celery-queue-backlog"}' in text
    assert 'tocsin_remediation_pages_avoided_total{runbook="celery-queue-backlog"}' in text
    assert 'tocsin_remediation_actions_total{action="scale",outcome="applied"}' in text
    assert 'tocsin_remediation_verification_seconds_count{runbook="celery-queue-backlog"}' in text
    assert "tocsin_remediation_runs_active 0.0" in text
