"""What the actions need from Kubernetes, as a protocol: kube.py implements it, fakes implement it in tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class WorkloadKind(StrEnum):
    """Workloads the actions scale, restart and patch."""

    DEPLOYMENT = "Deployment"
    STATEFULSET = "StatefulSet"


class ClusterError(Exception):
    """A Kubernetes call failed; `retryable` says whether trying later may help (409, 429, 5xx)."""

    def __init__(self, message: str, *, status: int = 0, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


@dataclass(frozen=True)
class Workload:
    """The parts of a Deployment/StatefulSet the actions look at."""

    kind: WorkloadKind
    namespace: str
    name: str
    replicas: int
    ready_replicas: int
    updated_replicas: int
    available_replicas: int
    generation: int
    observed_generation: int
    selector: dict[str, str]
    containers: dict[str, dict[str, dict[str, str]]]  # container -> {"requests": {...}, "limits": {...}}
    last_rollout: datetime | None  # when the last rollout progressed (Deployment Progressing condition)

    @property
    def rollout_complete(self) -> bool:
        return (self.observed_generation >= self.generation and self.updated_replicas == self.replicas
                and self.available_replicas == self.replicas and self.ready_replicas == self.replicas)


@dataclass(frozen=True)
class Pod:
    """A pod as the actions see it."""

    namespace: str
    name: str
    node: str | None
    ready: bool
    owner_kind: str | None
    owner_name: str | None


@dataclass(frozen=True)
class Node:
    """A node: Ready condition and whether it is cordoned."""

    name: str
    ready: bool
    unschedulable: bool


@dataclass(frozen=True)
class Hpa:
    """A HorizontalPodAutoscaler's bounds and current state."""

    namespace: str
    name: str
    min_replicas: int
    max_replicas: int
    current_replicas: int


@dataclass(frozen=True)
class Pvc:
    """A PersistentVolumeClaim's requested size."""

    namespace: str
    name: str
    requested: str
    phase: str


@dataclass(frozen=True)
class Job:
    """A batch/v1 Job as the node_job action sees it: where it runs and whether it finished."""

    namespace: str
    name: str
    node: str | None  # spec.template.spec.nodeName
    succeeded: bool  # a Complete (or SuccessCriteriaMet) condition is True
    failed: bool  # a Failed condition is True (backoff limit or active deadline exceeded)
    message: str  # the reason and message of the terminal condition, for the timeline


@dataclass(frozen=True)
class Change:
    """What a mutating call did (or, under dry run, would have done), summarised for the audit log."""

    summary: str
    dry_run: bool
    details: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class DrainResult:
    """Outcome of evicting a node's pods."""

    evicted: list[str]
    skipped: list[str]  # DaemonSet-owned and mirror pods
    blocked: list[str]  # evictions a PodDisruptionBudget kept refusing


class Cluster(Protocol):
    """Every Kubernetes operation an action may perform. Mutating calls take dry_run (server-side)."""

    async def get_workload(self, kind: WorkloadKind, namespace: str, name: str) -> Workload: ...
    async def scale(self, kind: WorkloadKind, namespace: str, name: str, replicas: int,
                    *, dry_run: bool) -> Change: ...
    async def rollout_restart(self, kind: WorkloadKind, namespace: str, name: str, at: datetime,
                              *, dry_run: bool) -> Change: ...
    async def patch_resources(self, kind: WorkloadKind, namespace: str, name: str, container: str,
                              resources: dict[str, dict[str, str]], *, dry_run: bool) -> Change: ...
    async def get_pod(self, namespace: str, name: str) -> Pod: ...
    async def owner_workload(self, namespace: str, pod: str) -> tuple[WorkloadKind, str] | None: ...
    async def list_pods(self, namespace: str, selector: dict[str, str]) -> list[Pod]: ...
    async def delete_pod(self, namespace: str, name: str, *, dry_run: bool) -> Change: ...
    async def list_nodes(self) -> list[Node]: ...
    async def get_node(self, name: str) -> Node: ...
    async def set_unschedulable(self, name: str, unschedulable: bool, *, dry_run: bool) -> Change: ...
    async def pods_on_node(self, node: str) -> list[Pod]: ...
    async def evict_pod(self, namespace: str, name: str, *, dry_run: bool) -> Change: ...
    async def get_hpa(self, namespace: str, name: str) -> Hpa: ...
    async def set_hpa_bounds(self, namespace: str, name: str, min_replicas: int | None,
                             max_replicas: int | None, *, dry_run: bool) -> Change: ...
    async def get_pvc(self, namespace: str, name: str) -> Pvc: ...
    async def resize_pvc(self, namespace: str, name: str, size: str, *, dry_run: bool) -> Change: ...
    async def create_job(self, namespace: str, manifest: dict[str, object], *, dry_run: bool) -> Job:
        """Create a batch/v1 Job; a Job of that name already there raises ClusterError with status 409."""
        ...
    async def get_job(self, namespace: str, name: str) -> Job: ...
    async def delete_job(self, namespace: str, name: str, *, dry_run: bool) -> Change:
        """Delete a Job and (in the background) its pods."""
        ...
