"""deploy/kubernetes/rbac.yaml grants exactly the API calls the actions make: nothing missing, nothing extra."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml

from remediator.cluster import WorkloadKind
from remediator.kube import KubeCluster
from tests.fakekube import FakeKube
from tests.fakekube import builders as b

RBAC = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "rbac.yaml"


def granted() -> set[tuple[str, str, str]]:
    docs = list(yaml.safe_load_all(RBAC.read_text()))
    roles = [d for d in docs if d["kind"] in ("ClusterRole", "Role")]
    return {(group, resource, verb) for role in roles for rule in role["rules"]
            for group in rule["apiGroups"] for resource in rule["resources"] for verb in rule["verbs"]}


async def exercise_every_call(kube: FakeKube, cluster: KubeCluster) -> None:
    b.node(kube, "n1")
    b.node(kube, "n2")
    b.deployment(kube, "shop", "api", 2)
    b.statefulset(kube, "shop", "db", 1, containers={"db": {"limits": {"memory": "1Gi"}}})
    b.hpa(kube, "shop", "api", 1, 5, 5)
    b.pvc(kube, "shop", "data", "1Gi")
    for kind, name in ((WorkloadKind.DEPLOYMENT, "api"), (WorkloadKind.STATEFULSET, "db")):
        await cluster.get_workload(kind, "shop", name)
        await cluster.scale(kind, "shop", name, 2, dry_run=True)
        await cluster.rollout_restart(kind, "shop", name, datetime.now(UTC), dry_run=True)
        await cluster.patch_resources(kind, "shop", name, "app", {"limits": {"cpu": "1"}}, dry_run=True)
    pod = b.pods_of(kube, "shop", "api")[0]
    await cluster.get_pod("shop", pod)
    await cluster.owner_workload("shop", pod)
    await cluster.list_pods("shop", {"app": "api"})
    await cluster.delete_pod("shop", pod, dry_run=True)
    await cluster.list_nodes()
    await cluster.get_node("n1")
    await cluster.set_unschedulable("n1", True, dry_run=True)
    await cluster.pods_on_node("n1")
    await cluster.evict_pod("shop", pod, dry_run=True)
    await cluster.get_hpa("shop", "api")
    await cluster.set_hpa_bounds("shop", "api", None, 8, dry_run=True)
    await cluster.get_pvc("shop", "data")
    await cluster.resize_pvc("shop", "data", "2Gi", dry_run=True)
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "prune"}, "spec": {"template": {"spec": {
        "nodeName": "n1", "restartPolicy": "Never", "containers": [{"name": "task", "image": "example/prune:1"}]}}}}
    await cluster.create_job("tocsin-node-jobs", job, dry_run=False)
    await cluster.get_job("tocsin-node-jobs", "prune")
    await cluster.delete_job("tocsin-node-jobs", "prune", dry_run=True)


async def test_rbac_grants_exactly_what_the_actions_use(kube: FakeKube, cluster: KubeCluster) -> None:
    await exercise_every_call(kube, cluster)
    used = {(r.group, f"{r.resource}/{r.subresource}" if r.subresource else r.resource, r.verb)
            for r in kube.requests}
    assert used - granted() == set(), "calls not granted by rbac.yaml"
    assert granted() - used == set(), "rbac.yaml grants more than the actions use"


def test_jobs_are_granted_only_in_the_node_jobs_namespace() -> None:
    docs = list(yaml.safe_load_all(RBAC.read_text()))
    job_rules = [(d["kind"], d["metadata"].get("namespace")) for d in docs if d["kind"] in ("ClusterRole", "Role")
                 for rule in d["rules"] if "jobs" in rule["resources"]]
    assert job_rules == [("Role", "tocsin-node-jobs")]
    from remediator.actions.jobs import NodeJobParams

    assert NodeJobParams.model_fields["namespace"].default == "tocsin-node-jobs"


def test_every_cluster_method_is_exercised() -> None:
    from remediator.cluster import Cluster

    methods = {name for name in vars(Cluster) if not name.startswith("_")}
    source = Path(__file__).read_text()
    assert {m for m in methods if f"cluster.{m}(" not in source} == set()
