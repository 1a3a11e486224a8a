"""Seed a FakeKube with realistic objects: nodes, Deployments, StatefulSets, DaemonSet pods, HPAs, PVCs, PDBs."""

from __future__ import annotations

from datetime import datetime

from tests.fakekube.controllers import make_pod
from tests.fakekube.server import FakeKube


def node(kube: FakeKube, name: str, ready: bool = True, unschedulable: bool = False) -> None:
    kube.put("", "nodes", {"apiVersion": "v1", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                           "spec": {"unschedulable": unschedulable} if unschedulable else {},
                           "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}})


def _workload(namespace: str, name: str, replicas: int, containers: dict[str, dict[str, dict[str, str]]] | None,
              healthy: bool) -> dict[str, object]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "metadata": {
        "name": name, "namespace": namespace, "annotations": {"fakekube/pods-ready": str(healthy).lower()}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                     {"name": c, "image": f"example/{name}:1", "resources": r}
                     for c, r in (containers or {"app": {}}).items()]}}}}


def deployment(kube: FakeKube, namespace: str, name: str, replicas: int = 2, *, last_rollout: datetime | None = None,
               containers: dict[str, dict[str, dict[str, str]]] | None = None, healthy: bool = True) -> None:
    kube.put("apps", "deployments", _workload(namespace, name, replicas, containers, healthy))
    if last_rollout is not None:
        with kube.lock:
            obj = kube.objects[("apps", "deployments", namespace, name)]
            for condition in obj["status"]["conditions"]:
                condition["lastUpdateTime"] = last_rollout.strftime("%Y-%m-%dT%H:%M:%SZ")


def statefulset(kube: FakeKube, namespace: str, name: str, replicas: int = 1, *,
                containers: dict[str, dict[str, dict[str, str]]] | None = None) -> None:
    kube.put("apps", "statefulsets", _workload(namespace, name, replicas, containers, True))


def daemonset_pod(kube: FakeKube, namespace: str, name: str, node_name: str) -> None:
    pod = make_pod(namespace, name, {"app": name.rsplit("-", 1)[0]}, {"spec": {"containers": [{"name": "c"}]}},
                   ("DaemonSet", name.rsplit("-", 1)[0]), node_name, True)
    kube.put("", "pods", pod)


def set_pod_ready(kube: FakeKube, namespace: str, name: str, ready: bool) -> None:
    with kube.lock:
        pod = kube.objects[("", "pods", namespace, name)]
        pod["status"]["conditions"] = [{"type": "Ready", "status": "True" if ready else "False"}]
        kube.controllers.reconcile()


def pods_of(kube: FakeKube, namespace: str, app: str) -> list[str]:
    return [p["metadata"]["name"] for p in kube.list("", "pods", namespace)
            if p["metadata"].get("labels", {}).get("app") == app]


def hpa(kube: FakeKube, namespace: str, name: str, min_replicas: int, max_replicas: int, current: int) -> None:
    kube.put("autoscaling", "horizontalpodautoscalers", {
        "apiVersion": "autoscaling/v2", "metadata": {"name": name, "namespace": namespace},
        "spec": {"minReplicas": min_replicas, "maxReplicas": max_replicas,
                 "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}},
        "status": {"currentReplicas": current, "desiredReplicas": current}})


def pvc(kube: FakeKube, namespace: str, name: str, size: str) -> None:
    kube.put("", "persistentvolumeclaims", {
        "apiVersion": "v1", "metadata": {"name": name, "namespace": namespace},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
        "status": {"phase": "Bound", "capacity": {"storage": size}}})


def pdb(kube: FakeKube, namespace: str, name: str, app: str, min_available: int) -> None:
    kube.put("policy", "poddisruptionbudgets", {
        "apiVersion": "policy/v1", "metadata": {"name": name, "namespace": namespace},
        "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": app}}}})
