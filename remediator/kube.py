"""The ONLY module that imports `kubernetes`: the Cluster protocol over the official client, off the loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as TransportError
from urllib3.util.retry import Retry

from remediator.cluster import Change, ClusterError, Hpa, Job, Node, Pod, Pvc, Workload, WorkloadKind

STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


@dataclass(frozen=True)
class ClusterAccess:
    """How to reach the API server: in-cluster service account, a kubeconfig (context), or host + token."""

    mode: Literal["in_cluster", "kubeconfig", "token"] = "in_cluster"
    kubeconfig: str | None = None
    context: str | None = None
    host: str | None = None
    token: str | None = None
    ca_file: str | None = None
    insecure: bool = False  # tests and kind clusters only
    connect_timeout: float = 5.0
    """Seconds to establish a connection to the API server (each of up to 4 attempts)."""
    read_timeout: float = 30.0
    """Seconds to wait for the API server's answer (not retried): a hung server fails the call, it does not hold
    a run, its target and a worker thread for as long as TCP keeps the connection."""


def connect(access: ClusterAccess) -> KubeCluster:
    """Build a client configuration (never the global default one) and the adapter around it."""
    cfg = k8s.Configuration()
    if access.mode == "in_cluster":
        k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    elif access.mode == "kubeconfig":
        k8s_config.load_kube_config(config_file=access.kubeconfig, context=access.context,
                                    client_configuration=cfg, persist_config=False)  # type: ignore[no-untyped-call]
    else:
        if not access.host or not access.token:
            raise ValueError("token access needs host and token")
        cfg.host = access.host
        cfg.api_key = {"BearerToken": access.token}
        cfg.api_key_prefix = {"BearerToken": "Bearer"}
        cfg.ssl_ca_cert = access.ca_file
        cfg.verify_ssl = not access.insecure
    # connection failures are retried, a read that timed out is not: the server is hung (waiting again only
    # multiplies read_timeout), and a write it may have applied must not be sent twice
    cfg.retries = Retry(total=3, read=0)
    return KubeCluster(k8s.ApiClient(cfg), timeout=(access.connect_timeout, access.read_timeout))


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _dry(dry_run: bool) -> str | None:
    return "All" if dry_run else None


def _pod(obj: dict[str, Any]) -> Pod:
    meta, status = obj["metadata"], obj.get("status", {})
    owner: dict[str, Any] = next(iter(meta.get("ownerReferences") or []), {})
    if "kubernetes.io/config.mirror" in (meta.get("annotations") or {}):
        owner = {"kind": "Node", "name": obj.get("spec", {}).get("nodeName")}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    return Pod(meta.get("namespace", ""), meta["name"], obj.get("spec", {}).get("nodeName"), ready,
               owner.get("kind"), owner.get("name"))


def _node(obj: dict[str, Any]) -> Node:
    conditions = obj.get("status", {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return Node(obj["metadata"]["name"], ready, bool(obj.get("spec", {}).get("unschedulable", False)))


def _job(obj: dict[str, Any]) -> Job:
    meta, status = obj["metadata"], obj.get("status", {})
    node = obj.get("spec", {}).get("template", {}).get("spec", {}).get("nodeName")
    true = {c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"}
    done = true.get("Failed") or true.get("Complete") or true.get("SuccessCriteriaMet") or {}
    message = ": ".join(x for x in (done.get("reason"), done.get("message")) if x)
    return Job(meta.get("namespace", ""), meta["name"], node,
               succeeded="Complete" in true or "SuccessCriteriaMet" in true, failed="Failed" in true,
               message=message)


def _workload(kind: WorkloadKind, obj: dict[str, Any]) -> Workload:
    spec, status, meta = obj.get("spec", {}), obj.get("status", {}), obj["metadata"]
    containers = {c["name"]: {k: dict(v) for k, v in (c.get("resources") or {}).items()}
                  for c in spec.get("template", {}).get("spec", {}).get("containers", [])}
    progressing = [c for c in status.get("conditions") or [] if c.get("type") == "Progressing"]
    replicas = int(spec.get("replicas", 1))
    return Workload(
        kind=kind, namespace=meta["namespace"], name=meta["name"], replicas=replicas,
        ready_replicas=int(status.get("readyReplicas", 0)), updated_replicas=int(status.get("updatedReplicas", 0)),
        available_replicas=int(status.get("availableReplicas", 0)), generation=int(meta.get("generation", 0)),
        observed_generation=int(status.get("observedGeneration", 0)),
        selector=dict(spec.get("selector", {}).get("matchLabels", {})), containers=containers,
        last_rollout=_time(progressing[0].get("lastUpdateTime")) if progressing else None)


class KubeCluster:
    """Implements remediator.cluster.Cluster. Each call runs the sync client in a worker thread, bounded by
    `timeout` (connect, read seconds) so that a hung API server fails the call with a ClusterError."""

    def __init__(self, api: k8s.ApiClient, timeout: tuple[float, float] = (5.0, 30.0)) -> None:
        self._core = k8s.CoreV1Api(api)
        self._apps = k8s.AppsV1Api(api)
        self._autoscaling = k8s.AutoscalingV2Api(api)
        self._batch = k8s.BatchV1Api(api)
        self._timeout = timeout

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        def call() -> dict[str, Any]:
            try:
                response = fn(*args, _preload_content=False, _request_timeout=self._timeout, **kwargs)
                data = response.data
            except ApiException as exc:
                status = int(exc.status or 0)
                message = f"{fn.__name__}: HTTP {status}: {_reason(exc.body) or exc.reason}"
                raise ClusterError(message, status=status, retryable=status in (409, 429) or status >= 500) from exc
            except (TransportError, OSError) as exc:  # timeout, refused or reset connection, TLS failure
                raise ClusterError(f"{fn.__name__}: API server unreachable: {exc}") from exc
            return dict(json.loads(data)) if data else {}
        return await asyncio.to_thread(call)

    def _workload_api(self, kind: WorkloadKind) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
        if kind is WorkloadKind.DEPLOYMENT:
            return (self._apps.read_namespaced_deployment, self._apps.patch_namespaced_deployment,
                    self._apps.patch_namespaced_deployment_scale)
        return (self._apps.read_namespaced_stateful_set, self._apps.patch_namespaced_stateful_set,
                self._apps.patch_namespaced_stateful_set_scale)

    async def get_workload(self, kind: WorkloadKind, namespace: str, name: str) -> Workload:
        read, _, _ = self._workload_api(kind)
        return _workload(kind, await self._call(read, name, namespace))

    async def scale(self, kind: WorkloadKind, namespace: str, name: str, replicas: int,
                    *, dry_run: bool) -> Change:
        _, _, patch_scale = self._workload_api(kind)
        got = await self._call(patch_scale, name, namespace, {"spec": {"replicas": replicas}},
                               dry_run=_dry(dry_run), _content_type=MERGE)
        return Change(f"{kind} {namespace}/{name} scale set to {got.get('spec', {}).get('replicas')}", dry_run,
                      {"resourceVersion": got.get("metadata", {}).get("resourceVersion")})

    async def rollout_restart(self, kind: WorkloadKind, namespace: str, name: str, at: datetime,
                              *, dry_run: bool) -> Change:
        _, patch, _ = self._workload_api(kind)
        stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        got = await self._call(patch, name, namespace, body, dry_run=_dry(dry_run), _content_type=STRATEGIC)
        return Change(f"{kind} {namespace}/{name} restartedAt={stamp} (generation "
                      f"{got.get('metadata', {}).get('generation')})", dry_run, {"restartedAt": stamp})

    async def patch_resources(self, kind: WorkloadKind, namespace: str, name: str, container: str,
                              resources: dict[str, dict[str, str]], *, dry_run: bool) -> Change:
        _, patch, _ = self._workload_api(kind)
        body = {"spec": {"template": {"spec": {"containers": [{"name": container, "resources": resources}]}}}}
        got = await self._call(patch, name, namespace, body, dry_run=_dry(dry_run), _content_type=STRATEGIC)
        return Change(f"{kind} {namespace}/{name} container {container} resources {resources} (generation "
                      f"{got.get('metadata', {}).get('generation')})", dry_run)

    async def get_pod(self, namespace: str, name: str) -> Pod:
        return _pod(await self._call(self._core.read_namespaced_pod, name, namespace))

    async def owner_workload(self, namespace: str, pod: str) -> tuple[WorkloadKind, str] | None:
        found = await self.get_pod(namespace, pod)
        if found.owner_kind == "StatefulSet" and found.owner_name:
            return WorkloadKind.STATEFULSET, found.owner_name
        if found.owner_kind != "ReplicaSet" or not found.owner_name:
            return None
        rs = await self._call(self._apps.read_namespaced_replica_set, found.owner_name, namespace)
        owner: dict[str, Any] = next(iter(rs["metadata"].get("ownerReferences") or []), {})
        return (WorkloadKind.DEPLOYMENT, owner["name"]) if owner.get("kind") == "Deployment" else None

    async def list_pods(self, namespace: str, selector: dict[str, str]) -> list[Pod]:
        text = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        got = await self._call(self._core.list_namespaced_pod, namespace, label_selector=text)
        return [_pod(item) for item in got.get("items", [])]

    async def delete_pod(self, namespace: str, name: str, *, dry_run: bool) -> Change:
        await self._call(self._core.delete_namespaced_pod, name, namespace, dry_run=_dry(dry_run))
        return Change(f"pod {namespace}/{name} deleted", dry_run)

    async def list_nodes(self) -> list[Node]:
        return [_node(item) for item in (await self._call(self._core.list_node)).get("items", [])]

    async def get_node(self, name: str) -> Node:
        return _node(await self._call(self._core.read_node, name))

    async def set_unschedulable(self, name: str, unschedulable: bool, *, dry_run: bool) -> Change:
        got = await self._call(self._core.patch_node, name, {"spec": {"unschedulable": unschedulable}},
                               dry_run=_dry(dry_run), _content_type=STRATEGIC)
        state = "cordoned" if got.get("spec", {}).get("unschedulable") else "uncordoned"
        return Change(f"node {name} {state}", dry_run)

    async def pods_on_node(self, node: str) -> list[Pod]:
        got = await self._call(self._core.list_pod_for_all_namespaces, field_selector=f"spec.nodeName={node}")
        return [_pod(item) for item in got.get("items", [])]

    async def evict_pod(self, namespace: str, name: str, *, dry_run: bool) -> Change:
        body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": namespace}}
        await self._call(self._core.create_namespaced_pod_eviction, name, namespace, body, dry_run=_dry(dry_run))
        return Change(f"pod {namespace}/{name} evicted", dry_run)

    async def get_hpa(self, namespace: str, name: str) -> Hpa:
        got = await self._call(self._autoscaling.read_namespaced_horizontal_pod_autoscaler, name, namespace)
        spec, status = got.get("spec", {}), got.get("status", {})
        return Hpa(namespace, name, int(spec.get("minReplicas", 1)), int(spec["maxReplicas"]),
                   int(status.get("currentReplicas", 0)))

    async def set_hpa_bounds(self, namespace: str, name: str, min_replicas: int | None,
                             max_replicas: int | None, *, dry_run: bool) -> Change:
        spec = {k: v for k, v in (("minReplicas", min_replicas), ("maxReplicas", max_replicas)) if v is not None}
        got = await self._call(self._autoscaling.patch_namespaced_horizontal_pod_autoscaler, name, namespace,
                               {"spec": spec}, dry_run=_dry(dry_run), _content_type=MERGE)
        now = got.get("spec", {})
        return Change(f"HPA {namespace}/{name} min {now.get('minReplicas')} max {now.get('maxReplicas')}", dry_run)

    async def get_pvc(self, namespace: str, name: str) -> Pvc:
        got = await self._call(self._core.read_namespaced_persistent_volume_claim, name, namespace)
        return Pvc(namespace, name, got["spec"]["resources"]["requests"]["storage"],
                   got.get("status", {}).get("phase", ""))

    async def resize_pvc(self, namespace: str, name: str, size: str, *, dry_run: bool) -> Change:
        body = {"spec": {"resources": {"requests": {"storage": size}}}}
        await self._call(self._core.patch_namespaced_persistent_volume_claim, name, namespace, body,
                         dry_run=_dry(dry_run), _content_type=MERGE)
        return Change(f"PVC {namespace}/{name} storage request set to {size}", dry_run)

    async def create_job(self, namespace: str, manifest: dict[str, object], *, dry_run: bool) -> Job:
        got = await self._call(self._batch.create_namespaced_job, namespace, manifest, dry_run=_dry(dry_run))
        return _job(got)

    async def get_job(self, namespace: str, name: str) -> Job:
        return _job(await self._call(self._batch.read_namespaced_job, name, namespace))

    async def delete_job(self, namespace: str, name: str, *, dry_run: bool) -> Change:
        await self._call(self._batch.delete_namespaced_job, name, namespace, propagation_policy="Background",
                         dry_run=_dry(dry_run))
        return Change(f"Job {namespace}/{name} deleted (its pods are deleted in the background)", dry_run)


def _reason(body: object) -> str:
    if not isinstance(body, str | bytes):
        return ""
    try:
        return str(json.loads(body).get("message", ""))
    except (ValueError, AttributeError):
        return str(body)[:200]
