"""Prometheus unreachable during verify means "unknown", not "failed" (review finding 13).

The run ends ESCALATED and pages; the rollback does not run (the fix may well have worked); the circuit breaker
does not count it, so a monitoring outage cannot disable a runbook. The real Prometheus client is used, its
transport failing like an unreachable server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from remediator.engine import Engine
from remediator.fakecluster import ClusterSpec, FakeCluster
from remediator.prometheus import Prometheus
from remediator.records import Outcome
from remediator.store import MemoryStore
from tests.support.clock import FakeClock
from tests.support.remediator_engine import Recorder, alert, runbook


class Outage:
    """A Prometheus transport: refuses connections while `down`, else answers `up` with one sample."""

    def __init__(self) -> None:
        self.down = True
        self.queries = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.queries += 1
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {}, "value": [0, "1"]}]}})


@pytest.fixture
async def outage() -> AsyncIterator[tuple[Outage, Prometheus]]:
    transport = Outage()
    client = Prometheus("http://prometheus.invalid:9090", transport=httpx.MockTransport(transport))
    yield transport, client
    await client.aclose()


def engine_for(clock: FakeClock, prometheus: Prometheus, sleep: Callable[[float], Awaitable[None]] | None = None
               ) -> tuple[Engine, FakeCluster, MemoryStore, Recorder]:
    rb = runbook(safety={"cooldown": "0s", "max_runs_per_hour": 10},
                 on_failure={"rollback": [{"action": "scale", "replicas": 2, "max": 10}]})
    cluster = FakeCluster(ClusterSpec.model_validate({"deployments": [
        {"namespace": "shop", "name": "api", "replicas": 2}]}), clock.now())
    store, rec = MemoryStore(), Recorder()
    engine = Engine(store=store, cluster=cluster, prometheus=prometheus, runbooks=[rb], clock=clock.now,
                    sleep=sleep or clock.sleep, events=rec.sink, metrics=rec)
    return engine, cluster, store, rec


async def test_unreachable_prometheus_escalates_without_rollback_or_breaker(
        clock: FakeClock, outage: tuple[Outage, Prometheus]) -> None:
    transport, prometheus = outage
    engine, cluster, store, rec = engine_for(clock, prometheus)
    rb = engine.runbooks["scale-api"]
    for episode in ("1", "2", "3", "4"):  # more than circuit_breaker.failures (3)
        run = await engine.start(rb, alert(episode))
        assert run.outcome is Outcome.ESCALATED, run.reason
        assert run.reason.startswith("verification unknown: cannot evaluate up (Prometheus unreachable")
        assert "not rolled back" in run.reason
        assert rec.events[-1].page is True
        clock.advance(minutes=5)
    assert cluster.calls == ["scale Deployment shop/api 3", "scale Deployment shop/api 4",
                             "scale Deployment shop/api 5", "scale Deployment shop/api 6"]  # never rolled back
    assert await store.failed_verifications_since(rb.id, clock.now() - rb.safety.circuit_breaker.window) == 0
    assert transport.queries == 4 * 7  # every 10s for 1m: the loop kept trying until `within`


async def test_a_short_outage_inside_the_window_does_not_end_the_run(clock: FakeClock,
                                                                     outage: tuple[Outage, Prometheus]) -> None:
    transport, prometheus = outage

    async def back_after_two_queries(seconds: float) -> None:
        await clock.sleep(seconds)
        transport.down = transport.queries < 2

    engine, _, _, rec = engine_for(clock, prometheus, back_after_two_queries)
    run = await engine.start(engine.runbooks["scale-api"], alert())
    assert run.outcome is Outcome.VERIFIED and transport.queries == 3, run.reason
    assert rec.finished == [("scale-api", Outcome.VERIFIED)]
