"""An in-memory Cluster for `tocsin runbook test` and unit tests: state from a small YAML spec, calls recorded."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from remediator.cluster import Change, ClusterError, Hpa, Job, Node, Pod, Pvc, Workload, WorkloadKind


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NodeSpec(_Spec):
    name: str
    ready: bool = True
    unschedulable: bool = False


def _one_container() -> dict[str, dict[str, dict[str, str]]]:
    return {"app": {}}


class WorkloadSpec(_Spec):
    namespace: str
    name: str
    replicas: int = 1
    ready: int | None = Field(None, description="Ready replicas (default: all).")
    last_rollout_minutes_ago: int | None = None
    containers: dict[str, dict[str, dict[str, str]]] = Field(default_factory=_one_container)


class PodSpec(_Spec):
    namespace: str
    name: str
    node: str | None = None
    ready: bool = True
    owner: str | None = Field(None, description="Kind/name of the controller: Deployment/api, DaemonSet/x.")
    pdb_blocks: bool = Field(False, description="Evictions of this pod answer 429 (PodDisruptionBudget).")


class HpaSpec(_Spec):
    namespace: str
    name: str
    min: int = 1
    max: int
    current: int = 1


class PvcSpec(_Spec):
    namespace: str
    name: str
    size: str


class ClusterSpec(_Spec):
    """Cluster state of a runbook test case."""

    nodes: list[NodeSpec] = Field(default_factory=list)
    deployments: list[WorkloadSpec] = Field(default_factory=list)
    statefulsets: list[WorkloadSpec] = Field(default_factory=list)
    pods: list[PodSpec] = Field(default_factory=list)
    hpas: list[HpaSpec] = Field(default_factory=list)
    pvcs: list[PvcSpec] = Field(default_factory=list)
    jobs: Literal["succeed", "fail", "hang"] = Field(
        "succeed", description="What every Job created (node_job) does: succeed, fail, or never finish.")


def _missing(what: str) -> ClusterError:
    return ClusterError(f"{what} not found", status=404)


@dataclass
class FakeCluster:
    """Implements Cluster on plain data. `calls` lists every mutating call, e.g. 'scale Deployment shop/api 5'."""

    spec: ClusterSpec
    now: datetime
    calls: list[str] = field(default_factory=list)
    jobs: dict[tuple[str, str], Job] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.spec = self.spec.model_copy(deep=True)

    def _record(self, text: str, dry_run: bool) -> Change:
        self.calls.append(text + (" (dry run)" if dry_run else ""))
        return Change(text, dry_run)

    def _workloads(self, kind: WorkloadKind) -> list[WorkloadSpec]:
        return self.spec.deployments if kind is WorkloadKind.DEPLOYMENT else self.spec.statefulsets

    def _find(self, kind: WorkloadKind, namespace: str, name: str) -> WorkloadSpec:
        for w in self._workloads(kind):
            if (w.namespace, w.name) == (namespace, name):
                return w
        raise _missing(f"{kind} {namespace}/{name}")

    async def get_workload(self, kind: WorkloadKind, namespace: str, name: str) -> Workload:
        w = self._find(kind, namespace, name)
        ready = w.replicas if w.ready is None else w.ready
        last = None if w.last_rollout_minutes_ago is None else self.now - timedelta(minutes=w.last_rollout_minutes_ago)
        return Workload(kind, namespace, name, w.replicas, ready, w.replicas, ready, 1, 1, {"app": name},
                        w.containers, last)

    async def scale(self, kind: WorkloadKind, namespace: str, name: str, replicas: int, *, dry_run: bool) -> Change:
        w = self._find(kind, namespace, name)
        if not dry_run:
            w.replicas = replicas
        return self._record(f"scale {kind} {namespace}/{name} {replicas}", dry_run)

    async def rollout_restart(self, kind: WorkloadKind, namespace: str, name: str, at: datetime,
                              *, dry_run: bool) -> Change:
        self._find(kind, namespace, name)
        return self._record(f"rollout_restart {kind} {namespace}/{name}", dry_run)

    async def patch_resources(self, kind: WorkloadKind, namespace: str, name: str, container: str,
                              resources: dict[str, dict[str, str]], *, dry_run: bool) -> Change:
        w = self._find(kind, namespace, name)
        if not dry_run:
            for section, values in resources.items():
                w.containers.setdefault(container, {}).setdefault(section, {}).update(values)
        flat = " ".join(f"{s}.{k}={v}" for s, vals in sorted(resources.items()) for k, v in sorted(vals.items()))
        return self._record(f"patch_resources {kind} {namespace}/{name} {container} {flat}", dry_run)

    def _pod(self, spec: PodSpec) -> Pod:
        kind, _, name = (spec.owner or "").partition("/")
        return Pod(spec.namespace, spec.name, spec.node, spec.ready, kind or None, name or None)

    def _pod_spec(self, namespace: str, name: str) -> PodSpec:
        for p in self.spec.pods:
            if (p.namespace, p.name) == (namespace, name):
                return p
        raise _missing(f"pod {namespace}/{name}")

    async def get_pod(self, namespace: str, name: str) -> Pod:
        return self._pod(self._pod_spec(namespace, name))

    async def owner_workload(self, namespace: str, pod: str) -> tuple[WorkloadKind, str] | None:
        kind, _, name = (self._pod_spec(namespace, pod).owner or "").partition("/")
        return (WorkloadKind(kind), name) if kind in ("Deployment", "StatefulSet") else None

    async def list_pods(self, namespace: str, selector: dict[str, str]) -> list[Pod]:
        app = selector.get("app")
        return [self._pod(p) for p in self.spec.pods
                if p.namespace == namespace and p.owner is not None and p.owner.partition("/")[2] == app]

    async def delete_pod(self, namespace: str, name: str, *, dry_run: bool) -> Change:
        spec = self._pod_spec(namespace, name)
        if not dry_run:
            spec.ready = True  # its controller replaces it with a healthy one
        return self._record(f"delete_pod {namespace}/{name}", dry_run)

    async def list_nodes(self) -> list[Node]:
        return [Node(n.name, n.ready, n.unschedulable) for n in self.spec.nodes]

    async def get_node(self, name: str) -> Node:
        for n in self.spec.nodes:
            if n.name == name:
                return Node(n.name, n.ready, n.unschedulable)
        raise _missing(f"node {name}")

    async def set_unschedulable(self, name: str, unschedulable: bool, *, dry_run: bool) -> Change:
        await self.get_node(name)
        if not dry_run:
            self.spec.nodes = [replace_node(n, unschedulable) if n.name == name else n for n in self.spec.nodes]
        return self._record(f"{'cordon' if unschedulable else 'uncordon'} {name}", dry_run)

    async def pods_on_node(self, node: str) -> list[Pod]:
        return [self._pod(p) for p in self.spec.pods if p.node == node]

    async def evict_pod(self, namespace: str, name: str, *, dry_run: bool) -> Change:
        if self._pod_spec(namespace, name).pdb_blocks:
            raise ClusterError("Cannot evict pod as it would violate the pod's disruption budget.", status=429,
                               retryable=True)
        return self._record(f"evict {namespace}/{name}", dry_run)

    def _hpa(self, namespace: str, name: str) -> HpaSpec:
        for h in self.spec.hpas:
            if (h.namespace, h.name) == (namespace, name):
                return h
        raise _missing(f"hpa {namespace}/{name}")

    async def get_hpa(self, namespace: str, name: str) -> Hpa:
        h = self._hpa(namespace, name)
        return Hpa(namespace, name, h.min, h.max, h.current)

    async def set_hpa_bounds(self, namespace: str, name: str, min_replicas: int | None,
                             max_replicas: int | None, *, dry_run: bool) -> Change:
        h = self._hpa(namespace, name)
        if not dry_run:
            h.min, h.max = min_replicas or h.min, max_replicas or h.max
        bounds = " ".join(f"{k}={v}" for k, v in (("min", min_replicas), ("max", max_replicas)) if v is not None)
        return self._record(f"set_hpa {namespace}/{name} {bounds}", dry_run)

    def _pvc(self, namespace: str, name: str) -> PvcSpec:
        for p in self.spec.pvcs:
            if (p.namespace, p.name) == (namespace, name):
                return p
        raise _missing(f"pvc {namespace}/{name}")

    async def get_pvc(self, namespace: str, name: str) -> Pvc:
        return Pvc(namespace, name, self._pvc(namespace, name).size, "Bound")

    async def resize_pvc(self, namespace: str, name: str, size: str, *, dry_run: bool) -> Change:
        p = self._pvc(namespace, name)
        if not dry_run:
            p.size = size
        return self._record(f"resize_pvc {namespace}/{name} {size}", dry_run)

    async def create_job(self, namespace: str, manifest: dict[str, object], *, dry_run: bool) -> Job:
        meta: Any = manifest["metadata"]
        spec: Any = manifest["spec"]
        name, node = str(meta["name"]), spec["template"]["spec"].get("nodeName")
        if (namespace, name) in self.jobs:
            raise ClusterError(f'jobs.batch "{name}" already exists', status=409, retryable=True)
        outcome = self.spec.jobs
        job = Job(namespace, name, node, succeeded=outcome == "succeed", failed=outcome == "fail",
                  message="BackoffLimitExceeded: Job has reached the specified backoff limit"
                  if outcome == "fail" else "")
        if not dry_run:
            self.jobs[(namespace, name)] = job
        self._record(f"create_job {namespace} node={node}", dry_run)
        return job

    async def get_job(self, namespace: str, name: str) -> Job:
        job = self.jobs.get((namespace, name))
        if job is None:
            raise _missing(f"job {namespace}/{name}")
        return job

    async def delete_job(self, namespace: str, name: str, *, dry_run: bool) -> Change:
        await self.get_job(namespace, name)
        if not dry_run:
            del self.jobs[(namespace, name)]
        return self._record(f"delete_job {namespace}", dry_run)


def replace_node(node: NodeSpec, unschedulable: bool) -> NodeSpec:
    return node.model_copy(update={"unschedulable": unschedulable})
