"""Every shipped runbook end to end: alert in, actions on the fake cluster over HTTP, verification in Prometheus."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from remediator.events import EventKind
from remediator.kube import KubeCluster
from remediator.prometheus import Prometheus
from remediator.records import Outcome, RunStatus
from remediator.runbook import Runbook
from remediator.store import MemoryStore
from tests.fakekube import FakeKube
from tests.fakekube import builders as b
from tests.support.clock import FakeClock
from tests.support.exporter import TestExporter
from tests.support.remediator_e2e import World, engine_for, fire

pytestmark = pytest.mark.e2e


@pytest.fixture
def world(exporter: TestExporter, prometheus: Prometheus) -> Iterator[World]:
    w = World(exporter, prometheus, {}, {})
    yield w
    w.cleanup()


def mutations(kube: FakeKube) -> list[tuple[str, str, str]]:
    return [(r.verb, r.resource, r.subresource) for r in kube.requests if r.verb not in ("get", "list")]


async def test_crashlooping_pod_restarts_its_deployment(kube: FakeKube, cluster: KubeCluster, clock: FakeClock,
                                                        world: World, runbooks: dict[str, Runbook]) -> None:
    b.node(kube, "n1")
    b.deployment(kube, "e2e-crash", "api", 2, last_rollout=clock.now().replace(hour=6))
    pod = b.pods_of(kube, "e2e-crash", "api")[0]
    series = 'kube_pod_container_status_waiting_reason{namespace="e2e-crash",pod="%s",reason="CrashLoopBackOff"}'
    world.broken, world.healed = {series % pod: 1}, {series % pod: 0}
    await world.start()
    store = MemoryStore()
    run = await fire(engine_for(runbooks["pod-crashlooping"], cluster, world, clock, store),
                     runbooks["pod-crashlooping"], {"alertname": "KubePodCrashLooping", "namespace": "e2e-crash",
                                                    "pod": pod, "container": "app"})
    assert run.outcome is Outcome.VERIFIED, run.reason
    annotations = kube.get("apps", "deployments", "e2e-crash", "api")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["kubectl.kubernetes.io/restartedAt"] == "2030-01-01T12:00:00Z"
    assert pod not in b.pods_of(kube, "e2e-crash", "api")
    assert [e.kind for e in world.events] == [EventKind.STARTED, EventKind.PROGRESS, EventKind.PROGRESS,
                                              EventKind.VERIFYING, EventKind.FINISHED]
    assert world.events[-1].page is False


async def test_unavailable_replicas_are_deleted_and_recreated(kube: FakeKube, cluster: KubeCluster, clock: FakeClock,
                                                             world: World, runbooks: dict[str, Runbook]) -> None:
    b.node(kube, "n1")
    b.deployment(kube, "e2e-unavail", "web", 3)
    stuck = b.pods_of(kube, "e2e-unavail", "web")[:2]
    for name in stuck:
        b.set_pod_ready(kube, "e2e-unavail", name, False)
    series = 'kube_deployment_status_replicas_unavailable{namespace="e2e-unavail",deployment="web"}'
    world.broken, world.healed = {series: 2}, {series: 0}
    await world.start()
    rb = runbooks["deployment-replicas-unavailable"]
    run = await fire(engine_for(rb, cluster, world, clock, MemoryStore()), rb,
                     {"alertname": "KubeDeploymentReplicasUnavailable", "namespace": "e2e-unavail",
                      "deployment": "web"})
    assert run.outcome is Outcome.VERIFIED, run.reason
    pods = b.pods_of(kube, "e2e-unavail", "web")
    assert len(pods) == 3 and not set(stuck) & set(pods)
    assert kube.get("apps", "deployments", "e2e-unavail", "web")["status"]["readyReplicas"] == 3
    assert mutations(kube) == [("delete", "pods", "")] * 2


async def test_hpa_at_max_gets_a_higher_max(kube: FakeKube, cluster: KubeCluster, clock: FakeClock, world: World,
                                            runbooks: dict[str, Runbook]) -> None:
    b.hpa(kube, "e2e-hpa", "api", 2, 10, 10)
    labels = 'namespace="e2e-hpa",horizontalpodautoscaler="api"'
    world.broken = {f"kube_horizontalpodautoscaler_status_current_replicas{{{labels}}}": 10,
                    f"kube_horizontalpodautoscaler_spec_max_replicas{{{labels}}}": 10}
    world.healed = {f"kube_horizontalpodautoscaler_spec_max_replicas{{{labels}}}": 15}
    await world.start()
    rb = runbooks["hpa-maxed-out"]
    run = await fire(engine_for(rb, cluster, world, clock, MemoryStore()), rb,
                     {"alertname": "KubeHpaMaxedOut", "namespace": "e2e-hpa", "horizontalpodautoscaler": "api"})
    assert run.outcome is Outcome.VERIFIED, run.reason
    assert kube.get("autoscaling", "horizontalpodautoscalers", "e2e-hpa", "api")["spec"]["maxReplicas"] == 15


async def test_not_ready_node_is_cordoned_and_drained_after_approval(
        kube: FakeKube, cluster: KubeCluster, clock: FakeClock, world: World, runbooks: dict[str, Runbook]) -> None:
    for name in ("n1", "n2", "n3", "n4", "n5"):
        b.node(kube, name)
    b.deployment(kube, "e2e-node", "api", 4)
    b.daemonset_pod(kube, "e2e-node", "exporter-n4", "n4")
    b.pdb(kube, "e2e-node", "api", "api", 2)
    b.node(kube, "n4", ready=False)  # goes NotReady after scheduling
    on_n4 = [p["metadata"]["name"] for p in kube.list("", "pods") if p["spec"].get("nodeName") == "n4"]
    series = 'kube_deployment_status_replicas_unavailable{namespace="e2e-node",deployment="api"}'
    world.broken, world.healed = {series: 1}, {series: 0}
    await world.start()
    rb, store = runbooks["node-not-ready"], MemoryStore()
    engine = engine_for(rb, cluster, world, clock, store)
    run = await fire(engine, rb, {"alertname": "KubeNodeNotReady", "node": "n4"})
    assert run.status is RunStatus.AWAITING_APPROVAL
    assert kube.get("", "nodes", None, "n4")["spec"]["unschedulable"] is True
    assert any(e.kind is EventKind.AWAITING_APPROVAL for e in world.events)
    clock.advance(minutes=3)
    run = await engine.decide(run.id, True, by="alice")
    assert run.outcome is Outcome.VERIFIED, run.reason
    left = [p["metadata"]["name"] for p in kube.list("", "pods") if p["spec"].get("nodeName") == "n4"]
    assert left == ["exporter-n4"] and "exporter-n4" in on_n4
    assert ("create", "pods", "eviction") in mutations(kube)
    drain = next(s for s in await store.list_steps(run.id) if s.action == "drain")
    assert drain.reason == "approved by alice"


async def test_filling_volume_gets_expanded(kube: FakeKube, cluster: KubeCluster, clock: FakeClock, world: World,
                                            runbooks: dict[str, Runbook]) -> None:
    b.pvc(kube, "e2e-disk", "data-db-0", "10Gi")
    labels = 'namespace="e2e-disk",persistentvolumeclaim="data-db-0"'
    world.broken = {f"kubelet_volume_stats_available_bytes{{{labels}}}": 5,
                    f"kubelet_volume_stats_capacity_bytes{{{labels}}}": 100}
    world.healed = {f"kubelet_volume_stats_available_bytes{{{labels}}}": 40}
    await world.start()
    rb = runbooks["disk-filling"]
    run = await fire(engine_for(rb, cluster, world, clock, MemoryStore()), rb,
                     {"alertname": "KubePersistentVolumeFillingUp", "namespace": "e2e-disk",
                      "persistentvolumeclaim": "data-db-0"})
    assert run.outcome is Outcome.VERIFIED, run.reason
    claim = kube.get("", "persistentvolumeclaims", "e2e-disk", "data-db-0")
    assert claim["spec"]["resources"]["requests"]["storage"] == "15Gi"


async def test_leaking_container_gets_a_rolling_restart(kube: FakeKube, cluster: KubeCluster, clock: FakeClock,
                                                        world: World, runbooks: dict[str, Runbook]) -> None:
    b.node(kube, "n1")
    b.deployment(kube, "e2e-mem", "worker", 1)
    pod = b.pods_of(kube, "e2e-mem", "worker")[0]
    labels = f'namespace="e2e-mem",pod="{pod}",container="app"'
    world.broken = {f"container_memory_working_set_bytes{{{labels}}}": 950,
                    f'kube_pod_container_resource_limits{{{labels},resource="memory"}}': 1000}
    world.healed = {f"container_memory_working_set_bytes{{{labels}}}": 300}
    await world.start()
    rb = runbooks["memory-leak"]
    run = await fire(engine_for(rb, cluster, world, clock, MemoryStore()), rb,
                     {"alertname": "ContainerMemoryNearLimit", "namespace": "e2e-mem", "pod": pod,
                      "container": "app"})
    assert run.outcome is Outcome.VERIFIED, run.reason
    assert b.pods_of(kube, "e2e-mem", "worker") != [pod]


async def test_celery_backlog_adds_workers(kube: FakeKube, cluster: KubeCluster, clock: FakeClock, world: World,
                                           runbooks: dict[str, Runbook]) -> None:
    b.node(kube, "n1")
    b.deployment(kube, "e2e-celery", "celery-worker", 4)
    series = 'celery_queue_length{queue_name="e2e-q"}'
    world.broken, world.healed = {series: 500}, {series: 10}
    await world.start()
    rb = runbooks["celery-queue-backlog"]
    run = await fire(engine_for(rb, cluster, world, clock, MemoryStore()), rb,
                     {"alertname": "CeleryQueueBacklog", "namespace": "e2e-celery", "queue": "e2e-q"})
    assert run.outcome is Outcome.VERIFIED, run.reason
    assert len(b.pods_of(kube, "e2e-celery", "celery-worker")) == 6
    assert ("patch", "deployments", "scale") in mutations(kube)
    assert world.events[1].message == "scale Deployment e2e-celery/celery-worker 4 -> 6"


async def test_redis_limit_raised_after_approval(kube: FakeKube, cluster: KubeCluster, clock: FakeClock, world: World,
                                                 runbooks: dict[str, Runbook]) -> None:
    b.node(kube, "n1")
    b.statefulset(kube, "e2e-redis", "redis", 1, containers={"redis": {"limits": {"memory": "2Gi"}}})
    labels = 'namespace="e2e-redis",pod="redis-0"'
    world.broken = {f"redis_memory_used_bytes{{{labels}}}": 95, f"redis_memory_max_bytes{{{labels}}}": 100}
    world.healed = {f"redis_memory_used_bytes{{{labels}}}": 40}
    await world.start()
    rb = runbooks["redis-memory-near-limit"]
    engine = engine_for(rb, cluster, world, clock, MemoryStore())
    run = await fire(engine, rb, {"alertname": "RedisMemoryNearLimit", "namespace": "e2e-redis", "pod": "redis-0"})
    assert run.status is RunStatus.AWAITING_APPROVAL
    assert mutations(kube) == []
    run = await engine.decide(run.id, True, by="bob")
    assert run.outcome is Outcome.VERIFIED, run.reason
    container = kube.get("apps", "statefulsets", "e2e-redis", "redis")["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["memory"] == "2560Mi"
    assert container["image"] == "example/redis:1"  # strategic merge kept the rest of the container
