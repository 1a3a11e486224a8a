"""Safety end to end: hostile labels, refused guards, failing verification and the circuit breaker, dry run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from remediator.kube import KubeCluster
from remediator.prometheus import Prometheus
from remediator.records import AuditKind, Outcome
from remediator.runbook import Runbook
from remediator.settings import EngineSettings
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


@pytest.mark.parametrize("hostile", ["api\n  namespace: kube-system", "../etc", "api/../../x", "API", ""])
async def test_hostile_label_is_refused_with_an_audit_entry(hostile: str, kube: FakeKube, cluster: KubeCluster,
                                                            clock: FakeClock, world: World,
                                                            runbooks: dict[str, Runbook]) -> None:
    b.deployment(kube, "shop", "api", 1)
    world.heal = False
    store = MemoryStore()
    rb = runbooks["celery-queue-backlog"]
    run = await fire(engine_for(rb, cluster, world, clock, store), rb,
                     {"alertname": "CeleryQueueBacklog", "namespace": "shop", "deployment": hostile})
    assert run.outcome is Outcome.REFUSED
    assert "target.deployment" in run.reason and "DNS-1123" in run.reason
    refusals = [a for a in store.audit if a.kind is AuditKind.GUARD_REFUSED]
    assert refusals and refusals[0].details["guard"] == "template"
    assert kube.requests == []  # not even a read


async def test_denied_namespace_is_refused_before_any_call(kube: FakeKube, cluster: KubeCluster, clock: FakeClock,
                                                           world: World, runbooks: dict[str, Runbook]) -> None:
    rb = runbooks["deployment-replicas-unavailable"]
    run = await fire(engine_for(rb, cluster, world, clock, MemoryStore()), rb,
                     {"alertname": "KubeDeploymentReplicasUnavailable", "namespace": "kube-system",
                      "deployment": "coredns"})
    assert run.outcome is Outcome.REFUSED and "deny list" in run.reason
    assert kube.requests == []
    assert world.events[-1].page is True


async def test_failed_verifications_open_the_circuit(kube: FakeKube, cluster: KubeCluster, clock: FakeClock,
                                                     world: World, runbooks: dict[str, Runbook]) -> None:
    b.node(kube, "n1")
    b.deployment(kube, "e2e-cb", "celery-worker", 2)
    world.broken = {'celery_queue_length{queue_name="e2e-cb"}': 900}
    world.heal = False
    await world.start()
    rb, store = runbooks["celery-queue-backlog"], MemoryStore()
    engine = engine_for(rb, cluster, world, clock, store)
    labels = {"alertname": "CeleryQueueBacklog", "namespace": "e2e-cb", "queue": "e2e-cb"}
    for episode in ("1", "2", "3"):
        run = await fire(engine, rb, labels, episode)
        assert run.outcome is Outcome.FAILED, run.reason
        assert "did not hold within 15m" in run.reason
        clock.advance(hours=1)
    run = await fire(engine, rb, labels, "4")
    assert run.outcome is Outcome.REFUSED and "circuit open: 3 failed verifications" in run.reason
    assert world.events[-1].page is True and "paging" in world.events[-1].message
    assert len(b.pods_of(kube, "e2e-cb", "celery-worker")) == 8  # three runs of +2, the fourth refused


async def test_dry_run_leaves_the_cluster_unchanged(kube: FakeKube, cluster: KubeCluster, clock: FakeClock,
                                                    world: World, runbooks: dict[str, Runbook]) -> None:
    b.node(kube, "n1")
    b.deployment(kube, "e2e-dry", "celery-worker", 3)
    before = kube.get("apps", "deployments", "e2e-dry", "celery-worker")
    pods = b.pods_of(kube, "e2e-dry", "celery-worker")
    rb, store = runbooks["celery-queue-backlog"], MemoryStore()
    engine = engine_for(rb, cluster, world, clock, store, EngineSettings(dry_run=True))
    run = await fire(engine, rb, {"alertname": "CeleryQueueBacklog", "namespace": "e2e-dry", "queue": "q"})
    assert run.outcome is Outcome.DRY_RUN
    assert kube.get("apps", "deployments", "e2e-dry", "celery-worker") == before
    assert b.pods_of(kube, "e2e-dry", "celery-worker") == pods
    writes = [r for r in kube.requests if r.verb not in ("get", "list")]
    assert writes and all(r.dry_run for r in writes)
    assert all(s.dry_run for s in await store.list_steps(run.id))
