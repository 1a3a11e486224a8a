"""`drain` leaves pods in namespaces the engine may not act in, and its evictions count toward the blast radius
(review finding 19).

The namespace guard used to see only the drain's target, a cluster-scoped node, so a drain evicted kube-system
pods; and evictions were not counted as pods deleted, so `max_pods_deleted` did not bound a drain.
"""

from __future__ import annotations

from typing import Any

from remediator.casetest import FakePrometheus, PrometheusSpec
from remediator.engine import Engine
from remediator.fakecluster import ClusterSpec, FakeCluster
from remediator.records import Effects, Outcome, RunStatus
from remediator.settings import EngineSettings
from remediator.store import MemoryStore
from tests.support.clock import FakeClock
from tests.support.remediator_engine import alert, runbook

NODES = [{"name": f"n{i}"} for i in range(1, 6)]


def pod(namespace: str, name: str, owner: str) -> dict[str, Any]:
    return {"namespace": namespace, "name": name, "node": "n3", "owner": owner}


def drain_engine(clock: FakeClock, pods: list[dict[str, Any]], *, max_pods: int = 5,
                 settings: EngineSettings | None = None) -> tuple[Engine, FakeCluster, MemoryStore]:
    rb = runbook(target={"node": "{{ labels.node }}"}, steps=[{"action": "drain"}],
                 safety={"blast_radius": {"max_pods_deleted": max_pods}})
    cluster = FakeCluster(ClusterSpec.model_validate({"nodes": NODES, "pods": pods}), clock.now())
    store = MemoryStore()
    engine = Engine(store=store, cluster=cluster, prometheus=FakePrometheus(PrometheusSpec(holds=True)),
                    runbooks=[rb], settings=settings, clock=clock.now, sleep=clock.sleep)
    return engine, cluster, store


async def approved_drain(engine: Engine) -> str:
    rb = engine.runbooks["scale-api"]
    run = await engine.start(rb, alert(node="n3"))
    assert run.status is RunStatus.AWAITING_APPROVAL, run.reason
    done = await engine.decide(run.id, True, by="alice")
    assert done.outcome is Outcome.VERIFIED, done.reason
    return done.id


async def test_drain_leaves_pods_in_deny_listed_namespaces(clock: FakeClock) -> None:
    engine, cluster, store = drain_engine(clock, [
        pod("shop", "api-1", "Deployment/api"),
        pod("kube-system", "coredns-1", "Deployment/coredns"),
        pod("monitoring", "exporter-n3", "DaemonSet/exporter")])
    run_id = await approved_drain(engine)
    assert cluster.calls == ["cordon n3", "evict shop/api-1"]
    [step] = await store.list_steps(run_id)
    assert "leave 1 in protected namespace(s)" in step.response and step.params["protected"] == [
        "kube-system/coredns-1"]


async def test_drain_leaves_pods_outside_the_allow_list(clock: FakeClock) -> None:
    engine, cluster, _ = drain_engine(clock, [
        pod("shop", "api-1", "Deployment/api"), pod("payments", "ledger-0", "StatefulSet/ledger")],
        settings=EngineSettings(namespace_allow=("shop",)))
    await approved_drain(engine)
    assert cluster.calls == ["cordon n3", "evict shop/api-1"]


async def test_evictions_count_as_pods_deleted(clock: FakeClock) -> None:
    engine, _, store = drain_engine(clock, [pod("shop", f"api-{i}", "Deployment/api") for i in range(2)])
    run_id = await approved_drain(engine)
    [step] = await store.list_steps(run_id)
    assert (step.pods_deleted, step.nodes_cordoned) == (2, 1)
    assert await store.effects_since(clock.now()) == Effects(2, 1)


async def test_a_drain_over_the_pod_budget_is_refused_before_asking_approval(clock: FakeClock) -> None:
    engine, cluster, store = drain_engine(clock, [pod("shop", f"api-{i}", "Deployment/api") for i in range(3)],
                                          max_pods=2)
    run = await engine.start(engine.runbooks["scale-api"], alert(node="n3"))
    assert run.outcome is Outcome.REFUSED and "would delete 3 pod(s)" in run.reason and "(limit 2)" in run.reason
    assert cluster.calls == [] and store.approvals == {}
