"""Remediation budgets hold under parallel runs and replicas (review finding 2).

The blast radius (pods deleted, nodes cordoned) is reserved atomically right before a step acts; the cooldown
and the runs per hour are re-checked atomically when a run claims its target. Each interleaving is forced with
events: the cluster call that acts blocks until every run has either reached it or finished, so all runs are in
flight at once. Run on the in-memory store and on SqlRunStore (SQLite, PostgreSQL), and with two SqlRunStores
on one database (two replicas).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from remediator.casetest import FakePrometheus, PrometheusSpec
from remediator.cluster import Change, ClusterError
from remediator.engine import Alert, Engine
from remediator.fakecluster import ClusterSpec, FakeCluster
from remediator.records import (
    Effects,
    NewRun,
    Outcome,
    Phase,
    RunRecord,
    RunStatus,
    StepOutcome,
    StepRecord,
)
from remediator.runbook import Runbook
from remediator.store import RunStore
from tests.support.clock import FakeClock
from tests.support.remediator_engine import Recorder, alert, runbook
from tests.webhook.remediation.run_stores import WAIT, replicas, run_store, store_url


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RunStore]:
    async with run_store(request.param, store_url(request.param, request, tmp_path)) as s:
        yield s


class GatedCluster(FakeCluster):
    """A FakeCluster whose pod deletions and cordons block until `release`: every run that gets that far is in
    flight at the same time. `settled` is set once each of `runs` runs has blocked there or finished."""

    def __init__(self, spec: dict[str, Any], now: datetime, runs: int) -> None:
        super().__init__(ClusterSpec.model_validate(spec), now)
        self.runs, self.entered, self.finished = runs, 0, 0
        self.settled, self.release = asyncio.Event(), asyncio.Event()
        self.fail: set[str] = set()

    def _progress(self) -> None:
        if self.entered + self.finished == self.runs:
            self.settled.set()

    def run_ended(self, _: object) -> None:
        self.finished += 1
        self._progress()

    async def _gate(self, what: str) -> None:
        self.entered += 1
        self._progress()
        await self.release.wait()
        if what in self.fail:
            raise ClusterError(f"{what}: connection reset")

    async def delete_pod(self, namespace: str, name: str, *, dry_run: bool) -> Change:
        await self._gate(name)
        return await super().delete_pod(namespace, name, dry_run=dry_run)

    async def set_unschedulable(self, name: str, unschedulable: bool, *, dry_run: bool) -> Change:
        await self._gate(name)
        return await super().set_unschedulable(name, unschedulable, dry_run=dry_run)


#: budget -> (runbook changes, cluster state, the alert of run i)
BUDGETS: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    "pods": ({"target": {"namespace": "{{ labels.namespace }}", "pod": "{{ labels.pod }}"},
              "steps": [{"action": "delete_pod"}], "safety": {"blast_radius": {"max_pods_deleted": 1}}},
             {"pods": [{"namespace": "shop", "name": f"p{i}", "owner": "Deployment/api"} for i in range(4)]},
             "pod"),
    "nodes": ({"target": {"node": "{{ labels.node }}"}, "steps": [{"action": "cordon"}],
               "safety": {"blast_radius": {"max_nodes_cordoned": 1}}},
              {"nodes": [{"name": f"p{i}"} for i in range(10)]},
              "node"),
}


def engine_for(store: RunStore, cluster: FakeCluster, rb: Runbook, clock: FakeClock) -> Engine:
    return Engine(store=store, cluster=cluster, prometheus=FakePrometheus(PrometheusSpec(holds=True)),
                  runbooks=[rb], clock=clock.now, sleep=clock.sleep)


async def all_at_once(cluster: GatedCluster, starts: list[Awaitable[RunRecord]]) -> list[RunRecord]:
    """Run the starts concurrently; release the cluster once every run is blocked in it or has finished."""
    tasks = [asyncio.ensure_future(s) for s in starts]
    for task in tasks:
        task.add_done_callback(cluster.run_ended)
    await asyncio.wait_for(cluster.settled.wait(), WAIT)
    cluster.release.set()
    return list(await asyncio.gather(*tasks))


def four_runs(budget: str, clock: FakeClock) -> tuple[Runbook, GatedCluster, list[Alert]]:
    changes, spec, label = BUDGETS[budget]
    cluster = GatedCluster(spec, clock.now(), runs=4)
    return runbook(**changes), cluster, [alert(str(i), **{label: f"p{i}"}) for i in range(4)]


def only_one_acted(cluster: FakeCluster, runs: list[RunRecord]) -> None:
    assert len(cluster.calls) == 1, cluster.calls
    assert sorted(r.outcome or "" for r in runs) == ["refused", "refused", "refused", "verified"]
    for refused in (r for r in runs if r.outcome is Outcome.REFUSED):
        assert "already" in refused.reason and "(limit 1)" in refused.reason, refused.reason


@pytest.mark.parametrize("budget", ["pods", "nodes"])
async def test_parallel_runs_cannot_exceed_the_blast_radius(store: RunStore, clock: FakeClock, budget: str) -> None:
    rb, cluster, alerts = four_runs(budget, clock)
    engine = engine_for(store, cluster, rb, clock)
    runs = await all_at_once(cluster, [engine.start(rb, a) for a in alerts])
    only_one_acted(cluster, runs)
    assert await store.runs_with_status((RunStatus.PENDING, RunStatus.RUNNING)) == []
    spent = await store.effects_since(clock.now() - rb.safety.blast_radius.window)
    assert spent == (Effects(1, 0) if budget == "pods" else Effects(0, 1))


@pytest.mark.parametrize("budget", ["pods", "nodes"])
async def test_parallel_runs_on_two_replicas_cannot_exceed_the_blast_radius(db_url: str, clock: FakeClock,
                                                                           budget: str) -> None:
    rb, cluster, alerts = four_runs(budget, clock)
    async with replicas(db_url, 2) as stores:
        engines = [engine_for(s, cluster, rb, clock) for s in stores]
        runs = await all_at_once(cluster, [engines[i % 2].start(rb, a) for i, a in enumerate(alerts)])
        only_one_acted(cluster, runs)
        assert await stores[1].runs_with_status((RunStatus.PENDING, RunStatus.RUNNING)) == []


async def test_a_failed_step_gives_its_reservation_back(store: RunStore, clock: FakeClock) -> None:
    rb, cluster, alerts = four_runs("pods", clock)
    cluster.runs, cluster.fail = 1, {"p0"}
    engine = engine_for(store, cluster, rb, clock)
    [failed] = await all_at_once(cluster, [engine.start(rb, alerts[0])])
    assert failed.outcome is Outcome.ESCALATED and "connection reset" in failed.reason
    assert await store.effects_since(clock.now() - rb.safety.blast_radius.window) == Effects(0, 0)
    after = await engine.start(rb, alerts[1])
    assert after.outcome is Outcome.VERIFIED and cluster.calls == ["delete_pod shop/p1"]


class GatedPrometheus:
    """Precondition queries naming an episode (`ep="N"`) block until the test lets that run proceed."""

    def __init__(self) -> None:
        self.entered = {ep: asyncio.Event() for ep in ("1", "2")}
        self.proceed = {ep: asyncio.Event() for ep in ("1", "2")}

    async def holds(self, query: str) -> bool:
        for ep, entered in self.entered.items():
            if f'ep="{ep}"' in query:
                entered.set()
                await asyncio.wait_for(self.proceed[ep].wait(), WAIT)
        return True


@pytest.mark.parametrize(("safety", "guard", "words"), [
    ({"cooldown": "10m", "max_runs_per_hour": 5}, "cooldown", "(cooldown 10m)"),
    ({"cooldown": "0s", "max_runs_per_hour": 1}, "rate_limit", "1 runs on deployment/shop/api in the last hour"),
])
async def test_a_run_is_refused_at_the_claim_when_another_started_after_its_guards_looked(
        store: RunStore, clock: FakeClock, safety: dict[str, Any], guard: str, words: str) -> None:
    rb = runbook(safety=safety, preconditions=[{"query": 'ready{ep="{{ labels.ep }}"}'}])
    cluster = FakeCluster(ClusterSpec.model_validate({"deployments": [
        {"namespace": "shop", "name": "api", "replicas": 2}]}), clock.now())
    prometheus, rec = GatedPrometheus(), Recorder()
    engine = Engine(store=store, cluster=cluster, prometheus=prometheus, runbooks=[rb], clock=clock.now,
                    sleep=clock.sleep, events=rec.sink, metrics=rec)
    first = asyncio.ensure_future(engine.start(rb, alert("1", ep="1")))
    second = asyncio.ensure_future(engine.start(rb, alert("2", ep="2")))
    for entered in prometheus.entered.values():  # both runs passed the guards: no run had started yet
        await asyncio.wait_for(entered.wait(), WAIT)
    prometheus.proceed["1"].set()
    assert (await first).outcome is Outcome.VERIFIED
    prometheus.proceed["2"].set()
    refused = await second
    assert refused.outcome is Outcome.REFUSED and words in refused.reason, refused.reason
    assert rec.refusals == [guard]
    assert cluster.calls == ["scale Deployment shop/api 3"]


# --- the store contract behind it ----------------------------------------------------------------------------


def in_flight(run_id: str, index: int, clock: FakeClock, *, pods: int = 0, nodes: int = 0,
              outcome: StepOutcome = StepOutcome.RUNNING, dry_run: bool = False) -> StepRecord:
    finished = None if outcome is StepOutcome.RUNNING else clock.now()
    return StepRecord(run_id, Phase.STEPS, index, "delete_pod", f"step {index}", clock.now(), dry_run, outcome,
                      finished_at=finished, pods_deleted=pods, nodes_cordoned=nodes)


async def test_reserve_step_counts_applied_and_in_flight_steps(store: RunStore, clock: FakeClock) -> None:
    run, _ = await store.create_run(NewRun("k", "rb", None, "tocsin", {}, {}, False, clock.now()))
    since, limit = clock.now(), Effects(2, 1)
    assert await store.reserve_step(in_flight(run.id, 0, clock, pods=1), since, limit) == (True, Effects(0, 0))
    assert await store.reserve_step(in_flight(run.id, 1, clock, nodes=1), since, limit) == (True, Effects(1, 0))
    assert await store.reserve_step(in_flight(run.id, 2, clock, pods=2), since, limit) == (False, Effects(1, 1))
    assert [s.index for s in await store.list_steps(run.id)] == [0, 1]  # a refused reservation saves nothing
    await store.save_step(in_flight(run.id, 0, clock, pods=1, outcome=StepOutcome.APPLIED))
    assert await store.effects_since(since) == Effects(1, 1)
    # a step's own earlier record (its approval wait, a retry) is not counted against it
    assert await store.reserve_step(in_flight(run.id, 1, clock, nodes=1), since, limit) == (True, Effects(1, 0))


async def test_refused_failed_and_dry_run_steps_do_not_consume_budget(store: RunStore, clock: FakeClock) -> None:
    run, _ = await store.create_run(NewRun("k", "rb", None, "tocsin", {}, {}, False, clock.now()))
    since = clock.now()
    assert (await store.reserve_step(in_flight(run.id, 0, clock, pods=1), since, Effects(1, 0)))[0]
    await store.save_step(in_flight(run.id, 0, clock, pods=1, outcome=StepOutcome.FAILED))
    await store.save_step(in_flight(run.id, 1, clock, pods=1, outcome=StepOutcome.REFUSED))
    await store.save_step(in_flight(run.id, 2, clock, pods=1, outcome=StepOutcome.APPLIED, dry_run=True))
    assert await store.effects_since(since) == Effects(0, 0)
    assert (await store.reserve_step(in_flight(run.id, 3, clock, pods=1), since, Effects(1, 0)))[0]


async def test_the_claim_rechecks_cooldown_and_runs_per_hour(store: RunStore, clock: FakeClock) -> None:
    a, _ = await store.create_run(NewRun("a", "rb", None, "tocsin", {}, {}, False, clock.now()))
    b, _ = await store.create_run(NewRun("b", "rb", None, "tocsin", {}, {}, False, clock.now()))
    assert await store.claim_target(a.id, "deployment/shop/api", {}, clock.now())
    await store.transition(a.id, (RunStatus.RUNNING,), at=clock.now(), status=RunStatus.FINISHED,
                           outcome=Outcome.VERIFIED)
    later = clock.advance(minutes=20)
    assert not await store.claim_target(b.id, "deployment/shop/api", {}, later, cooldown=timedelta(minutes=30))
    assert not await store.claim_target(b.id, "deployment/shop/api", {}, later, max_runs_per_hour=1)
    assert (await store.get_run(b.id)).status is RunStatus.PENDING  # type: ignore[union-attr]
    assert await store.claim_target(b.id, "deployment/shop/api", {}, later, cooldown=timedelta(minutes=10),
                                    max_runs_per_hour=2)
