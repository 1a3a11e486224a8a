"""What kube-controller-manager would do, instantly: Deployments/StatefulSets own pods; status follows."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]
Key = tuple[str, str, str | None, str]


def template_hash(template: Obj) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:8]


def owner_of(obj: Obj) -> tuple[str, str] | None:
    refs = obj["metadata"].get("ownerReferences") or []
    return (refs[0]["kind"], refs[0]["name"]) if refs else None


def pod_ready(pod: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def make_pod(namespace: str, name: str, labels: dict[str, str], template: Obj, owner: tuple[str, str],
             node: str | None, ready: bool) -> Obj:
    spec = dict(template.get("spec", {}))
    if node:
        spec["nodeName"] = node
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels),
                     "annotations": dict(template.get("metadata", {}).get("annotations", {})),
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1],
                                          "uid": f"uid-{owner[1]}", "controller": True}]},
        "spec": spec,
        "status": {"phase": "Running" if node else "Pending",
                   "conditions": [{"type": "Ready", "status": "True" if ready and node else "False"}]},
    }


class Controllers:
    """Reconciles workloads in the store of a FakeKube (called under its lock after every write)."""

    def __init__(self, objects: dict[Key, Obj], now: Callable[[], str], suffix: Callable[[], str]) -> None:
        self.objects = objects
        self.now = now
        self.suffix = suffix
        #: What each new Job does, decided when it is first seen: "Complete" (default), "Failed" or "Running"
        #: (never finishes). Tests replace it to make a Job fail or hang.
        self.job_outcome: Callable[[Obj], str] = lambda job: "Complete"

    def _pods(self, namespace: str, owner: tuple[str, str]) -> list[tuple[Key, Obj]]:
        return [(k, o) for k, o in self.objects.items()
                if k[1] == "pods" and k[2] == namespace and owner_of(o) == owner]

    def _node_for(self, index: int) -> str | None:
        nodes = [o["metadata"]["name"] for k, o in sorted(self.objects.items(), key=lambda kv: kv[0][3])
                 if k[1] == "nodes" and not o.get("spec", {}).get("unschedulable")
                 and any(c["type"] == "Ready" and c["status"] == "True" for c in o["status"]["conditions"])]
        return nodes[index % len(nodes)] if nodes else None

    def reconcile(self) -> None:
        for key, obj in list(self.objects.items()):
            if key[1] == "deployments":
                self._deployment(key, obj)
            elif key[1] == "statefulsets":
                self._statefulset(key, obj)
            elif key[1] == "jobs":
                self._job(obj)

    def _healthy(self, obj: Obj) -> bool:
        return obj["metadata"].get("annotations", {}).get("fakekube/pods-ready", "true") == "true"

    def _deployment(self, key: Key, dep: Obj) -> None:
        ns, name = key[2] or "", key[3]
        template = dep["spec"]["template"]
        rs_name = f"{name}-{template_hash(template)}"
        rs_key: Key = ("apps", "replicasets", ns, rs_name)
        if rs_key not in self.objects:
            self.objects[rs_key] = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
                "name": rs_name, "namespace": ns, "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": f"uid-{name}",
                     "controller": True}]}, "spec": {"template": template}}
            self._progressed(dep)
        for old_key, old_rs in list(self.objects.items()):
            if old_key[1] == "replicasets" and old_key[2] == ns and old_key != rs_key \
                    and owner_of(old_rs) == ("Deployment", name):
                for pod_key, _ in self._pods(ns, ("ReplicaSet", old_key[3])):
                    del self.objects[pod_key]
        pods = self._pods(ns, ("ReplicaSet", rs_name))
        want = int(dep["spec"].get("replicas", 1))
        for pod_key, _ in sorted(pods)[want:]:
            del self.objects[pod_key]
        labels = template.get("metadata", {}).get("labels", {})
        for i in range(len(pods), want):
            pod_name = f"{rs_name}-{self.suffix()}"
            self.objects[("", "pods", ns, pod_name)] = make_pod(ns, pod_name, labels, template,
                                                                 ("ReplicaSet", rs_name), self._node_for(i),
                                                                 self._healthy(dep))
        self._status(dep, [o for _, o in self._pods(ns, ("ReplicaSet", rs_name))], want)

    def _statefulset(self, key: Key, sts: Obj) -> None:
        ns, name = key[2] or "", key[3]
        template = sts["spec"]["template"]
        revision = template_hash(template)
        want = int(sts["spec"].get("replicas", 1))
        for pod_key, pod in self._pods(ns, ("StatefulSet", name)):
            ordinal = int(pod_key[3].rsplit("-", 1)[1])
            if ordinal >= want or pod["metadata"].get("labels", {}).get("controller-revision-hash") != revision:
                del self.objects[pod_key]
        labels = {**template.get("metadata", {}).get("labels", {}), "controller-revision-hash": revision}
        for i in range(want):
            pod_key: Key = ("", "pods", ns, f"{name}-{i}")
            if pod_key not in self.objects:
                self.objects[pod_key] = make_pod(ns, f"{name}-{i}", labels, template, ("StatefulSet", name),
                                                 self._node_for(i), self._healthy(sts))
        self._status(sts, [o for _, o in self._pods(ns, ("StatefulSet", name))], want)

    def _job(self, job: Obj) -> None:
        """Run a Job at once: its pod (on spec.template.spec.nodeName) completes or fails as job_outcome says."""
        status = job.setdefault("status", {})
        if "startTime" in status:
            return
        outcome = self.job_outcome(job)
        status["startTime"] = self.now()
        if outcome == "Running":
            status["active"] = 1
            return
        failed = outcome == "Failed"
        status.update({"succeeded": 0 if failed else 1, "failed": 1 if failed else 0, "completionTime": self.now()})
        reason, message = (("BackoffLimitExceeded", "Job has reached the specified backoff limit") if failed
                           else ("CompletionsReached", "Reached expected number of succeeded pods"))
        kinds = ("FailureTarget", "Failed") if failed else ("SuccessCriteriaMet", "Complete")
        status["conditions"] = [{"type": t, "status": "True", "reason": reason, "message": message,
                                 "lastTransitionTime": self.now()} for t in kinds]

    def _progressed(self, workload: Obj) -> None:
        conditions = [c for c in workload.setdefault("status", {}).get("conditions", [])
                      if c["type"] != "Progressing"]
        workload["status"]["conditions"] = [*conditions, {"type": "Progressing", "status": "True",
                                                          "reason": "NewReplicaSetAvailable",
                                                          "lastUpdateTime": self.now()}]

    def _status(self, workload: Obj, pods: list[Obj], want: int) -> None:
        ready = sum(1 for p in pods if pod_ready(p))
        status = workload.setdefault("status", {})
        status.update({"replicas": len(pods), "readyReplicas": ready, "availableReplicas": ready,
                       "updatedReplicas": len(pods), "unavailableReplicas": max(0, want - ready),
                       "observedGeneration": workload["metadata"].get("generation", 1)})
