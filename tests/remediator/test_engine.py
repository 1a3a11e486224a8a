"""Engine and guards on the in-memory cluster: idempotency, cooldowns, concurrency, blast radius, approvals,
recovery after a crash. Time is fake throughout."""

from __future__ import annotations

from typing import Any

from remediator.casetest import FakePrometheus, PrometheusSpec
from remediator.engine import Engine
from remediator.fakecluster import ClusterSpec, FakeCluster
from remediator.records import (
    NewRun,
    Outcome,
    Phase,
    RunStatus,
    StepOutcome,
    StepRecord,
)
from remediator.runbook import Runbook
from remediator.settings import EngineSettings
from remediator.store import MemoryStore
from tests.support.clock import FakeClock
from tests.support.remediator_engine import Recorder, alert, runbook


def make(rb: Runbook, clock: FakeClock, *, spec: dict[str, Any] | None = None, holds: bool = True,
         settings: EngineSettings | None = None) -> tuple[Engine, FakeCluster, MemoryStore, Recorder]:
    cluster = FakeCluster(ClusterSpec.model_validate(spec or {
        "deployments": [{"namespace": "shop", "name": "api", "replicas": 2}]}), clock.now())
    store, rec = MemoryStore(), Recorder()
    engine = Engine(store=store, cluster=cluster, prometheus=FakePrometheus(PrometheusSpec(holds=holds)),
                    runbooks=[rb], settings=settings, clock=clock.now, sleep=clock.sleep, events=rec.sink,
                    metrics=rec)
    return engine, cluster, store, rec


async def test_one_run_per_alert_episode(clock: FakeClock) -> None:
    rb = runbook()
    engine, cluster, store, _ = make(rb, clock)
    first = await engine.start(rb, alert())
    again = await engine.start(rb, alert())
    assert again.id == first.id and first.outcome is Outcome.VERIFIED
    assert cluster.calls == ["scale Deployment shop/api 3"] and len(store.runs) == 1


async def test_cooldown_then_rate_limit_per_target(clock: FakeClock) -> None:
    rb = runbook()
    engine, cluster, _, rec = make(rb, clock)
    assert (await engine.start(rb, alert("1"))).outcome is Outcome.VERIFIED
    clock.advance(minutes=5)
    cooled = await engine.start(rb, alert("2"))
    assert cooled.outcome is Outcome.REFUSED and "cooldown 10m" in cooled.reason
    clock.advance(minutes=6)
    assert (await engine.start(rb, alert("3"))).outcome is Outcome.VERIFIED
    clock.advance(minutes=11)
    limited = await engine.start(rb, alert("4"))
    assert limited.outcome is Outcome.REFUSED and "2 runs on deployment/shop/api in the last hour" in limited.reason
    assert rec.refusals == ["cooldown", "rate_limit"]
    assert len(cluster.calls) == 2


async def test_one_run_at_a_time_per_target(clock: FakeClock) -> None:
    rb = runbook(steps=[{"action": "approval", "message": "ok?"}, {"action": "scale", "by": 1, "max": 10}],
                 safety={"cooldown": "0s"})
    engine, _, _, _ = make(rb, clock)
    waiting = await engine.start(rb, alert("1"))
    assert waiting.status is RunStatus.AWAITING_APPROVAL
    other = await engine.start(rb, alert("2"))
    assert other.outcome is Outcome.REFUSED and "another run is acting on deployment/shop/api" in other.reason


async def test_blast_radius_counts_pods_across_runs(clock: FakeClock) -> None:
    rb = runbook(target={"namespace": "{{ labels.namespace }}", "pod": "{{ labels.pod }}"},
                 steps=[{"action": "delete_pod"}], safety={"blast_radius": {"max_pods_deleted": 2}})
    pods = [{"namespace": "shop", "name": f"api-{i}", "owner": "Deployment/api"} for i in range(3)]
    engine, cluster, _, _ = make(rb, clock, spec={"pods": pods})
    outcomes = [(await engine.start(rb, alert(str(i), pod=f"api-{i}"))).outcome for i in range(3)]
    assert outcomes == [Outcome.VERIFIED, Outcome.VERIFIED, Outcome.REFUSED]
    assert cluster.calls == ["delete_pod shop/api-0", "delete_pod shop/api-1"]


async def test_approval_timeout_runs_rollback_and_pages(clock: FakeClock) -> None:
    rb = runbook(steps=[{"action": "scale", "by": 2, "max": 10},
                        {"action": "approval", "message": "restart too?", "timeout": "15m"},
                        {"action": "rollout_restart"}],
                 on_failure={"rollback": [{"action": "scale", "replicas": 2, "max": 10}]})
    engine, cluster, store, rec = make(rb, clock)
    run = await engine.start(rb, alert())
    assert run.status is RunStatus.AWAITING_APPROVAL and run.next_step == 1
    clock.advance(minutes=10)
    assert await engine.tick() == []
    clock.advance(minutes=6)
    [done] = await engine.tick()
    assert done.outcome is Outcome.ESCALATED and "timed out" in done.reason and "rolled back" in done.reason
    assert cluster.calls == ["scale Deployment shop/api 4", "scale Deployment shop/api 2"]
    assert rec.events[-1].page is True
    assert [s.phase for s in await store.list_steps(run.id)] == [Phase.STEPS, Phase.STEPS, Phase.ROLLBACK]


async def test_rejected_approval_aborts_and_a_second_decision_changes_nothing(clock: FakeClock) -> None:
    rb = runbook(steps=[{"action": "rollout_restart", "dangerous": True}])
    engine, cluster, store, _ = make(rb, clock)
    run = await engine.start(rb, alert())
    run = await engine.decide(run.id, False, by="carol")
    assert run.outcome is Outcome.ABORTED and "rejected by carol" in run.reason
    again = await engine.decide(run.id, True, by="mallory")
    assert again.outcome is Outcome.ABORTED and cluster.calls == []
    assert store.approvals[(run.id, 0)].decided_by == "carol"


async def test_abort_while_waiting(clock: FakeClock) -> None:
    rb = runbook(steps=[{"action": "approval", "message": "go?"}, {"action": "rollout_restart"}])
    engine, cluster, _, _ = make(rb, clock)
    run = await engine.start(rb, alert())
    aborted = await engine.abort(run.id, by="dave")
    assert aborted.outcome is Outcome.ABORTED and cluster.calls == []
    assert (await engine.resume(run.id)).outcome is Outcome.ABORTED


async def test_interrupted_run_is_escalated_not_re_executed(clock: FakeClock) -> None:
    rb = runbook()
    engine, cluster, store, rec = make(rb, clock)
    run, _ = await store.create_run(NewRun(
        "k", rb.id, "inc-9", "tocsin", {"alertname": "X"}, {}, False, clock.now()))
    await store.claim_target(run.id, "deployment/shop/api", {"namespace": "shop", "deployment": "api"}, clock.now())
    await store.save_step(StepRecord(run.id, Phase.STEPS, 0, "scale", "scale 2 -> 3", clock.now(), False,
                                     StepOutcome.RUNNING))
    assert await engine.recover() == []  # not stale yet
    clock.advance(minutes=20)
    [done] = await engine.recover()
    assert done.outcome is Outcome.ESCALATED and "during step 0 (scale 2 -> 3): its effect is unknown" in done.reason
    assert cluster.calls == [] and rec.events[-1].page is True


async def test_preconditions_gate_the_run(clock: FakeClock) -> None:
    rb = runbook(preconditions=[{"query": 'up{job="{{ labels.deployment }}"} == 1', "description": "target up"}])
    engine, cluster, _, _ = make(rb, clock, holds=False)
    run = await engine.start(rb, alert())
    assert run.outcome is Outcome.SKIPPED and "target up" in run.reason and cluster.calls == []


async def test_failed_verification_reports_metrics_and_events(clock: FakeClock) -> None:
    rb = runbook()
    engine, _, _, rec = make(rb, clock, holds=False)
    run = await engine.start(rb, alert())
    assert run.outcome is Outcome.FAILED
    assert rec.finished == [("scale-api", Outcome.FAILED)] and rec.actions == [("scale", StepOutcome.APPLIED)]
    assert [e.message for e in rec.events][1:3] == ["scale Deployment shop/api 2 -> 3",
                                                   "verifying (up to 1m): up"]
    assert rec.events[-1].message.startswith("failed: verification did not hold") and rec.events[-1].page
    assert rec.events[0].hold_escalation_until is not None
    assert sum(clock.slept) == 60


async def test_global_dry_run_wins_over_the_runbook(clock: FakeClock) -> None:
    rb = runbook()
    engine, cluster, _, _ = make(rb, clock, settings=EngineSettings(dry_run=True))
    run = await engine.start(rb, alert())
    assert run.outcome is Outcome.DRY_RUN and cluster.calls == ["scale Deployment shop/api 3 (dry run)"]


async def test_namespace_allow_list(clock: FakeClock) -> None:
    rb = runbook()
    engine, cluster, _, _ = make(rb, clock, settings=EngineSettings(namespace_allow=("payments",)))
    run = await engine.start(rb, alert())
    assert run.outcome is Outcome.REFUSED and "not on the allow list" in run.reason and cluster.calls == []


async def test_matching_selects_runbooks(clock: FakeClock) -> None:
    rb = runbook(match=['alertname="X"', 'namespace!~"kube-.*"'])
    engine, _, _, _ = make(rb, clock)
    assert engine.matching({"alertname": "X", "namespace": "shop"}) == [rb]
    assert engine.matching({"alertname": "X", "namespace": "kube-public"}) == []
