"""Long verify and wait phases keep their run alive (review finding 5).

recover() declares a RUNNING run interrupted when it has not been updated for stale_run_after (15 min here).
A run that verifies or waits longer than that heartbeats while it does, so it is left alone; a run whose
heartbeat stopped (its process froze or died) is still recovered. Fake time throughout: the engine's sleep
stops at a chosen minute until the test has looked. In-memory store and SqlRunStore on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from remediator.engine import Engine
from remediator.fakecluster import ClusterSpec, FakeCluster
from remediator.records import Outcome, RunStatus
from remediator.runbook import Runbook
from remediator.settings import EngineSettings
from remediator.store import RunStore
from tests.support.clock import FakeClock
from tests.support.remediator_engine import alert, runbook
from tests.webhook.remediation.run_stores import WAIT, run_store, store_url

STALE = timedelta(minutes=15)
#: The fix shows in Prometheus 20 minutes after the run started: longer than STALE, inside `within`.
FIXED_AFTER = timedelta(minutes=20)
SCALE = {"action": "scale", "by": 1, "max": 10}
PHASES: dict[str, dict[str, Any]] = {
    "verify": {"steps": [SCALE], "verify": {"query": "up", "within": "30m", "interval": "1m"}},
    "wait_promql": {"steps": [SCALE, {"action": "wait_promql", "query": "up", "within": "30m", "interval": "1m"}],
                    "verify": None},
}


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RunStore]:
    async with run_store(request.param, store_url(request.param, request, tmp_path)) as s:
        yield s


class Stall:
    """The engine's sleep on the fake clock. The first sleep that ends at or after `at` stops there until
    `resume`: the run is frozen mid-verify (or mid-wait) while the test runs recover()."""

    def __init__(self, clock: FakeClock, at: datetime) -> None:
        self.clock, self.at = clock, at
        self.reached, self.resume = asyncio.Event(), asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        await self.clock.sleep(seconds)
        if not self.reached.is_set() and self.clock.now() >= self.at:
            self.reached.set()
            await asyncio.wait_for(self.resume.wait(), WAIT)


class LateFix:
    """Prometheus: every query holds from `at` on."""

    def __init__(self, clock: FakeClock, at: datetime) -> None:
        self.clock, self.at = clock, at

    async def holds(self, query: str) -> bool:
        return self.clock.now() >= self.at


def engine_for(store: RunStore, clock: FakeClock, rb: Runbook, stall: Stall) -> Engine:
    cluster = FakeCluster(ClusterSpec.model_validate({"deployments": [
        {"namespace": "shop", "name": "api", "replicas": 2}]}), clock.now())
    return Engine(store=store, cluster=cluster, prometheus=LateFix(clock, clock.now() + FIXED_AFTER),
                  runbooks=[rb], settings=EngineSettings(stale_run_after_seconds=STALE.total_seconds()),
                  clock=clock.now, sleep=stall.sleep)


@pytest.mark.parametrize("phase", sorted(PHASES))
async def test_a_verify_or_wait_longer_than_stale_run_after_is_not_declared_interrupted(
        store: RunStore, clock: FakeClock, phase: str) -> None:
    rb = runbook(**PHASES[phase])
    stall = Stall(clock, clock.now() + STALE + timedelta(minutes=1))
    engine = engine_for(store, clock, rb, stall)
    task = asyncio.ensure_future(engine.start(rb, alert()))
    await asyncio.wait_for(stall.reached.wait(), WAIT)
    assert await engine.recover() == []  # minute 16 of a healthy run that heartbeats
    assert [r.status for r in await store.runs_with_status((RunStatus.RUNNING,))] == [RunStatus.RUNNING]
    stall.resume.set()
    run = await task
    assert run.outcome is (Outcome.VERIFIED if phase == "verify" else Outcome.COMPLETED), run.reason


@pytest.mark.parametrize("phase", sorted(PHASES))
async def test_a_run_whose_heartbeat_stopped_is_declared_interrupted(store: RunStore, clock: FakeClock,
                                                                      phase: str) -> None:
    rb = runbook(**PHASES[phase])
    stall = Stall(clock, clock.now() + timedelta(minutes=2))
    engine = engine_for(store, clock, rb, stall)
    task = asyncio.ensure_future(engine.start(rb, alert()))
    await asyncio.wait_for(stall.reached.wait(), WAIT)
    clock.advance(minutes=16)  # the run is frozen: no heartbeat for 16 minutes
    [recovered] = await engine.recover()
    assert recovered.outcome is Outcome.ESCALATED and "interrupted" in recovered.reason
    stall.resume.set()
    assert (await task).outcome is Outcome.ESCALATED  # the frozen run, woken, sees it was taken over
