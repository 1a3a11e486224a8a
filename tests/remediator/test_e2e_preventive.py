"""Preventive runbooks end to end: a forecast's incident (the preventive label/annotation contract) in, actions on
the fake cluster over HTTP with the real client, the forecast cleared (or not) in a real Prometheus.

The exporter's samples follow the fake cluster: a larger PVC raises the capacity sample, a finished prune Job frees
bytes on the node's filesystem, a higher HPA maximum lets the backlog drain. Time is fake (the engine's sleeps
advance the clock); Prometheus is only ever waited on for a condition, never for a fixed time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from remediator.actions.jobs import JOB_LABELS
from remediator.engine import Alert, Engine
from remediator.events import EventKind, RunEvent
from remediator.kube import KubeCluster
from remediator.names import parse_quantity
from remediator.prometheus import Prometheus
from remediator.records import Outcome, RunRecord, RunStatus
from remediator.runbook import Runbook
from remediator.store import MemoryStore
from tests.fakekube import FakeKube
from tests.fakekube import builders as b
from tests.support.clock import FakeClock
from tests.support.exporter import TestExporter
from tests.support.payloads import alert, payload
from tests.support.procs import Proc
from tests.support.remediation_env import RUNBOOKS, Sleeper, Svc, remediation_config, start_service
from tests.support.remediator_e2e import wait_until_holds

pytestmark = pytest.mark.e2e

GI = 1024**3


def forecast(alertname: str, threshold: str = "0.9", level: str = "0.86", **labels: str) -> Alert:
    """A preventive incident's alert exactly as the forecast job opens it."""
    return Alert({"alertname": alertname, "tocsin_preventive": "exhaustion", "severity": "medium",
                  "team": "platform", **labels},
                 {"summary": f"{alertname} in ~7 h", "tocsin_forecast_query": "used / capacity",
                  "tocsin_forecast_threshold": threshold, "tocsin_forecast_eta": "2030-01-01T19:00:00Z",
                  "tocsin_forecast_eta_low": "2030-01-01T17:00:00Z", "tocsin_forecast_eta_high": "",
                  "tocsin_forecast_level": level},
                 fingerprint=f"fp-{alertname}", starts_at="2030-01-01T12:00:00Z")


@dataclass
class Metrics:
    """The exporter's series for one test (removed afterwards) and the run's events. On VERIFYING, `heal`
    (if any) updates the samples from the cluster's new state; the sink then waits until Prometheus has
    scraped a value for which the verify query holds."""

    exporter: TestExporter
    prometheus: Prometheus
    series: set[str] = field(default_factory=set)
    events: list[RunEvent] = field(default_factory=list)
    heal: Callable[[], None] | None = None

    def set(self, series: str, value: float) -> None:
        self.series.add(series)
        self.exporter.set(series, value)

    async def sink(self, event: RunEvent) -> None:
        self.events.append(event)
        if event.kind is EventKind.VERIFYING and self.heal is not None:
            self.heal()
            await wait_until_holds(self.prometheus, event.message.split("): ", 1)[1])

    @property
    def paged(self) -> bool:
        return bool(self.events) and self.events[-1].kind is EventKind.FINISHED and self.events[-1].page is True


@pytest.fixture
def metrics(exporter: TestExporter, prometheus: Prometheus) -> Iterator[Metrics]:
    m = Metrics(exporter, prometheus)
    yield m
    for series in m.series:
        exporter.remove(series)


def engine(rb: Runbook, cluster: KubeCluster, metrics: Metrics, clock: FakeClock) -> Engine:
    return Engine(store=MemoryStore(), cluster=cluster, prometheus=metrics.prometheus, runbooks=[rb],
                  clock=clock.now, sleep=clock.sleep, events=metrics.sink)


async def start(eng: Engine, rb: Runbook, fired: Alert) -> RunRecord:
    assert rb.matches(fired.labels), f"{rb.id} does not match {fired.labels}"
    return await eng.start(rb, fired, incident_id="inc-1")


# --- PVC ---------------------------------------------------------------------------------------------------


def pvc_series(namespace: str) -> tuple[str, str]:
    labels = f'namespace="{namespace}",persistentvolumeclaim="data-db-0"'
    return f"kubelet_volume_stats_used_bytes{{{labels}}}", f"kubelet_volume_stats_capacity_bytes{{{labels}}}"


async def pvc_world(kube: FakeKube, metrics: Metrics, namespace: str, *, resizes: bool) -> None:
    """A 10Gi claim 86 % used; when the volume `resizes`, the capacity sample follows the claim's new request."""
    b.pvc(kube, namespace, "data-db-0", "10Gi")
    used, capacity = pvc_series(namespace)
    metrics.set(used, 8.6 * GI)
    metrics.set(capacity, 10 * GI)
    await wait_until_holds(metrics.prometheus, f"{used} / {capacity} > 0.85")

    def grow() -> None:
        claim = kube.get("", "persistentvolumeclaims", namespace, "data-db-0")
        assert claim is not None
        metrics.set(capacity, float(parse_quantity(claim["spec"]["resources"]["requests"]["storage"])))

    metrics.heal = grow if resizes else None


async def test_a_forecast_full_pvc_is_expanded_and_the_forecast_clears(
        kube: FakeKube, cluster: KubeCluster, clock: FakeClock, metrics: Metrics,
        runbooks: dict[str, Runbook]) -> None:
    await pvc_world(kube, metrics, "e2e-fpvc", resizes=True)
    rb = runbooks["forecast-pvc-expand"]
    run = await start(engine(rb, cluster, metrics, clock), rb,
                      forecast("TocsinForecastPVCFull", namespace="e2e-fpvc", persistentvolumeclaim="data-db-0"))
    assert run.outcome is Outcome.VERIFIED, run.reason
    claim = kube.get("", "persistentvolumeclaims", "e2e-fpvc", "data-db-0")
    assert claim is not None and claim["spec"]["resources"]["requests"]["storage"] == "13Gi"
    assert [e.kind for e in metrics.events] == [EventKind.STARTED, EventKind.PROGRESS, EventKind.VERIFYING,
                                                EventKind.FINISHED]
    assert not metrics.paged


async def test_a_forecast_that_does_not_clear_fails_and_pages(
        kube: FakeKube, cluster: KubeCluster, clock: FakeClock, metrics: Metrics,
        runbooks: dict[str, Runbook]) -> None:
    await pvc_world(kube, metrics, "e2e-fpvc-stuck", resizes=False)  # e.g. the StorageClass cannot expand
    rb = runbooks["forecast-pvc-expand"]
    started = clock.now()
    run = await start(engine(rb, cluster, metrics, clock), rb, forecast(
        "TocsinForecastPVCFull", namespace="e2e-fpvc-stuck", persistentvolumeclaim="data-db-0"))
    assert run.outcome is Outcome.FAILED, run.reason
    assert "did not hold within 20m" in run.reason
    assert rb.verify is not None and clock.now() - started >= rb.verify.within
    assert metrics.paged and metrics.events[-1].message.endswith(", paging")


# --- node filesystem ---------------------------------------------------------------------------------------


async def test_a_forecast_full_node_disk_is_pruned_by_jobs_on_that_node(
        kube: FakeKube, cluster: KubeCluster, clock: FakeClock, metrics: Metrics,
        runbooks: dict[str, Runbook]) -> None:
    for name in ("n1", "n2", "n3", "n4", "n5"):
        b.node(kube, name)
    # Prometheus sets `instance` to the scrape target (here the test exporter, as node_exporter in a cluster)
    labels = 'mountpoint="/",device="/dev/nvme0n1p1",fstype="ext4"'
    avail, size = f"node_filesystem_avail_bytes{{{labels}}}", f"node_filesystem_size_bytes{{{labels}}}"
    metrics.set(avail, 8 * GI)
    metrics.set(size, 100 * GI)
    await wait_until_holds(metrics.prometheus, f"{avail} < {9 * GI}")
    metrics.heal = lambda: None  # the Jobs changed the samples: only wait for Prometheus to scrape them
    frees = {"steps[0]": 7 * GI, "steps[1]": 20 * GI}  # images: 15 % free, not enough; then logs: 35 %
    done: list[str] = []

    def run_job(job: dict[str, Any]) -> str:  # each finished Job frees bytes on n2's root filesystem
        done.append(job["metadata"]["annotations"]["tocsin.io/step"])
        metrics.set(avail, 8 * GI + sum(frees[step] for step in done))
        return "Complete"

    kube.controllers.job_outcome = run_job
    rb = runbooks["forecast-node-disk-prune"]
    eng = engine(rb, cluster, metrics, clock)
    fired = forecast("TocsinForecastNodeDiskFull", instance=metrics.exporter.target, node="n2", mountpoint="/",
                     device="/dev/nvme0n1p1")
    run = await start(eng, rb, fired)
    assert run.status is RunStatus.AWAITING_APPROVAL  # images pruned; deleting logs waits for a human
    [images] = kube.list("batch", "jobs", "tocsin-node-jobs")
    pod = images["spec"]["template"]["spec"]
    assert pod["nodeName"] == "n2" and pod["restartPolicy"] == "Never"
    assert images["metadata"]["labels"] == JOB_LABELS and images["spec"]["backoffLimit"] == 0
    assert images["spec"]["activeDeadlineSeconds"] == 600 and images["spec"]["ttlSecondsAfterFinished"] == 3600
    assert pod["containers"][0]["command"][-2:] == ["rmi", "--prune"]
    assert [v["hostPath"] for v in pod["volumes"]] == [{"path": "/run/containerd/containerd.sock", "type": "Socket"}]
    run = await eng.decide(run.id, True, by="alice")
    assert run.outcome is Outcome.VERIFIED, run.reason
    jobs = kube.list("batch", "jobs", "tocsin-node-jobs")
    assert len(jobs) == 2 and {j["spec"]["template"]["spec"]["nodeName"] for j in jobs} == {"n2"}
    logs = next(j for j in jobs if j["metadata"]["name"] != images["metadata"]["name"])
    assert logs["spec"]["template"]["spec"]["volumes"][0]["hostPath"] == {"path": "/var/log", "type": "Directory"}
    creates = [(r.verb, r.group, r.resource, r.namespace) for r in kube.requests if r.verb == "create"]
    assert creates == [("create", "batch", "jobs", "tocsin-node-jobs")] * 2
    assert not metrics.paged


async def test_a_failed_prune_job_escalates_and_pages(
        kube: FakeKube, cluster: KubeCluster, clock: FakeClock, metrics: Metrics,
        runbooks: dict[str, Runbook]) -> None:
    for name in ("n1", "n2", "n3", "n4", "n5"):
        b.node(kube, name)
    kube.controllers.job_outcome = lambda job: "Failed"
    rb = runbooks["forecast-node-disk-prune"]
    run = await start(engine(rb, cluster, metrics, clock), rb, forecast(
        "TocsinForecastNodeDiskFull", instance="10.9.0.3:9100", node="n3", mountpoint="/", device="/dev/sda1"))
    assert run.outcome is Outcome.ESCALATED
    assert "failed: BackoffLimitExceeded" in run.reason
    assert metrics.paged


# --- queue backlog -----------------------------------------------------------------------------------------


async def test_a_forecast_queue_backlog_gets_headroom_ahead_of_the_peak(
        kube: FakeKube, cluster: KubeCluster, clock: FakeClock, metrics: Metrics,
        runbooks: dict[str, Runbook]) -> None:
    b.hpa(kube, "e2e-fq", "celery-worker", 2, 10, 10)
    hpa = 'namespace="e2e-fq",horizontalpodautoscaler="celery-worker"'
    backlog = 'celery_queue_length{queue_name="e2e-invoices"}'
    metrics.set(f"kube_horizontalpodautoscaler_status_current_replicas{{{hpa}}}", 10)
    metrics.set(f"kube_horizontalpodautoscaler_spec_max_replicas{{{hpa}}}", 10)
    metrics.set(backlog, 8600)
    await wait_until_holds(metrics.prometheus, f"{backlog} > 8000")

    def workers_scale() -> None:  # the HPA uses its new headroom and the backlog drains
        got = kube.get("autoscaling", "horizontalpodautoscalers", "e2e-fq", "celery-worker")
        assert got is not None
        metrics.set(f"kube_horizontalpodautoscaler_spec_max_replicas{{{hpa}}}", got["spec"]["maxReplicas"])
        metrics.set(f"kube_horizontalpodautoscaler_status_current_replicas{{{hpa}}}", got["spec"]["maxReplicas"])
        metrics.set(backlog, 2400)

    metrics.heal = workers_scale
    rb = runbooks["forecast-queue-scale-ahead"]
    run = await start(engine(rb, cluster, metrics, clock), rb, forecast(
        "TocsinForecastQueueBacklog", namespace="e2e-fq", queue="e2e-invoices", deployment="celery-worker"))
    assert run.outcome is Outcome.VERIFIED, run.reason
    got = kube.get("autoscaling", "horizontalpodautoscalers", "e2e-fq", "celery-worker")
    assert got is not None and got["spec"]["maxReplicas"] == 14
    assert metrics.events[1].message == "raise HPA e2e-fq/celery-worker maxReplicas 10 -> 14"
    assert not metrics.paged


# --- memory working set ------------------------------------------------------------------------------------


async def test_a_forecast_oom_gets_a_rolling_restart_when_no_recent_rollout(
        kube: FakeKube, cluster: KubeCluster, clock: FakeClock, metrics: Metrics,
        runbooks: dict[str, Runbook]) -> None:
    b.node(kube, "n1")
    b.deployment(kube, "e2e-fmem", "worker", 1, last_rollout=clock.now().replace(hour=6))
    [pod] = b.pods_of(kube, "e2e-fmem", "worker")
    working_set = 'container_memory_working_set_bytes{namespace="e2e-fmem",pod="%s",container="app"}'
    limit = 'kube_pod_container_resource_limits{namespace="e2e-fmem",pod="%s",container="app",resource="memory"}'
    metrics.set(working_set % pod, 880)
    metrics.set(limit % pod, 1000)
    await wait_until_holds(metrics.prometheus, f"{working_set % pod} > 800")

    def restarted() -> None:  # the new pod starts small; the old one's series go away
        [new] = b.pods_of(kube, "e2e-fmem", "worker")
        assert new != pod
        metrics.set(working_set % new, 250)
        metrics.set(limit % new, 1000)
        metrics.exporter.remove(working_set % pod)

    metrics.heal = restarted
    rb = runbooks["forecast-memory-restart"]
    run = await start(engine(rb, cluster, metrics, clock), rb, forecast(
        "TocsinForecastMemoryNearLimit", namespace="e2e-fmem", pod=pod, container="app"))
    assert run.outcome is Outcome.VERIFIED, run.reason
    deployment = kube.get("apps", "deployments", "e2e-fmem", "worker")
    assert deployment is not None
    restarted_at = deployment["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
    assert restarted_at == "2030-01-01T12:00:00Z" and not metrics.paged


# --- through the service -----------------------------------------------------------------------------------


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The embedded store only: the run path is the same on PostgreSQL (tests/webhook/remediation cover both)."""
    return f"sqlite:///{tmp_path / 'tocsin.db'}"


@pytest.fixture
async def service(db_url: str, tmp_path: Path, kube: FakeKube, clock: FakeClock, sleeper: Sleeper,
                  prometheus_proc: Proc) -> AsyncIterator[Svc]:
    cfg = remediation_config(db_url, tmp_path, kube, prometheus_url=prometheus_proc.url, runbooks_dir=RUNBOOKS)
    async for svc in start_service(cfg, clock, sleeper):
        yield svc


async def test_a_preventive_incident_from_the_webhook_runs_its_runbook_to_verified_without_a_page(
        service: Svc, kube: FakeKube, metrics: Metrics) -> None:
    await pvc_world(kube, metrics, "e2e-fsvc", resizes=True)
    service.rem.listeners.append(metrics.sink)
    fired = forecast("TocsinForecastPVCFull", namespace="e2e-fsvc", persistentvolumeclaim="data-db-0")
    body = payload(alert(starts=datetime(2030, 1, 1, 11, 55, tzinfo=UTC), annotations=fired.annotations,
                         **fired.labels))
    assert (await service.deliver(body)).status_code == 200
    [run] = await service.rem.run_pending()
    assert run.runbook_id == "forecast-pvc-expand"
    assert run.outcome is Outcome.VERIFIED, run.reason
    assert run.annotations["tocsin_forecast_threshold"] == "0.9"
    claim = kube.get("", "persistentvolumeclaims", "e2e-fsvc", "data-db-0")
    assert claim is not None and claim["spec"]["resources"]["requests"]["storage"] == "13Gi"
    incident = await service.incident(int(run.incident_id or 0))
    kinds = [e["kind"] for e in incident["timeline"]]
    assert kinds[-4:] == ["remediation_started", "remediation_progress", "remediation_verifying",
                          "remediation_verified"], kinds
    assert metrics.events[-1].kind is EventKind.FINISHED and metrics.events[-1].page is False
