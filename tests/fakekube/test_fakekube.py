"""The fake API server behaves like the real one where the actions depend on it (checked with the real client)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from tests.fakekube import FakeKube
from tests.fakekube import builders as b


@pytest.fixture
def kube() -> Iterator[FakeKube]:
    with FakeKube() as server:
        b.node(server, "n1")
        b.node(server, "n2")
        b.deployment(server, "shop", "api", 3)
        yield server


@pytest.fixture
def api(kube: FakeKube) -> k8s.ApiClient:
    cfg = k8s.Configuration()
    cfg.host = kube.url
    return k8s.ApiClient(cfg)


def test_label_and_field_selectors(kube: FakeKube, api: k8s.ApiClient) -> None:
    b.deployment(kube, "shop", "web", 1)
    core = k8s.CoreV1Api(api)
    assert len(core.list_namespaced_pod("shop", label_selector="app=api").items) == 3
    assert len(core.list_namespaced_pod("shop", label_selector="app in (api,web)").items) == 4
    assert len(core.list_namespaced_pod("shop", label_selector="app!=api").items) == 1
    on_n1 = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=n1").items
    assert on_n1 and all(p.spec.node_name == "n1" for p in on_n1)


def test_scale_subresource_creates_and_deletes_pods(kube: FakeKube, api: k8s.ApiClient) -> None:
    apps = k8s.AppsV1Api(api)
    apps.patch_namespaced_deployment_scale("api", "shop", {"spec": {"replicas": 5}},
                                           _content_type="application/merge-patch+json")
    assert len(b.pods_of(kube, "shop", "api")) == 5
    apps.patch_namespaced_deployment_scale("api", "shop", {"spec": {"replicas": 1}},
                                           _content_type="application/merge-patch+json")
    assert len(b.pods_of(kube, "shop", "api")) == 1
    assert apps.read_namespaced_deployment_scale("api", "shop").spec.replicas == 1


def test_deleted_pod_of_a_deployment_is_recreated(kube: FakeKube, api: k8s.ApiClient) -> None:
    victim = b.pods_of(kube, "shop", "api")[0]
    k8s.CoreV1Api(api).delete_namespaced_pod(victim, "shop")
    pods = b.pods_of(kube, "shop", "api")
    assert len(pods) == 3 and victim not in pods


def test_patch_flavours(kube: FakeKube, api: k8s.ApiClient) -> None:
    apps = k8s.AppsV1Api(api)
    apps.patch_namespaced_deployment("api", "shop", {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "resources": {"limits": {"memory": "1Gi"}}}]}}}},
        _content_type="application/strategic-merge-patch+json")
    container = kube.get("apps", "deployments", "shop", "api")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "example/api:1" and container["resources"]["limits"]["memory"] == "1Gi"
    apps.patch_namespaced_deployment("api", "shop", {"metadata": {"labels": {"team": "x"}}},
                                     _content_type="application/merge-patch+json")
    apps.patch_namespaced_deployment("api", "shop", [{"op": "replace", "path": "/spec/replicas", "value": 2}],
                                     _content_type="application/json-patch+json")
    dep = kube.get("apps", "deployments", "shop", "api")
    assert dep["metadata"]["labels"] == {"team": "x"} and dep["spec"]["replicas"] == 2
    # the client sends a dict without an explicit content type as a strategic merge patch
    apps.patch_namespaced_deployment("api", "shop", {"spec": {"replicas": 4}})
    assert kube.get("apps", "deployments", "shop", "api")["spec"]["replicas"] == 4
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment("api", "shop", [{"op": "remove", "path": "/spec/nope"}],
                                         _content_type="application/json-patch+json")
    assert err.value.status == 422


def test_stale_resource_version_conflicts(kube: FakeKube, api: k8s.ApiClient) -> None:
    apps = k8s.AppsV1Api(api)
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment("api", "shop", {"metadata": {"resourceVersion": "1"}, "spec": {
            "replicas": 9}}, _content_type="application/merge-patch+json")
    assert err.value.status == 409
    assert kube.get("apps", "deployments", "shop", "api")["spec"]["replicas"] == 3


def test_eviction_respects_the_disruption_budget(kube: FakeKube, api: k8s.ApiClient) -> None:
    b.pdb(kube, "shop", "api", "api", 3)
    pod = b.pods_of(kube, "shop", "api")[0]
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": "shop"}}
    with pytest.raises(ApiException) as err:
        k8s.CoreV1Api(api).create_namespaced_pod_eviction(pod, "shop", body)
    assert err.value.status == 429 and "disruption budget" in err.value.body
    b.pdb(kube, "shop", "api", "api", 2)
    k8s.CoreV1Api(api).create_namespaced_pod_eviction(pod, "shop", body)
    assert pod not in b.pods_of(kube, "shop", "api")


def test_server_side_dry_run_changes_nothing(kube: FakeKube, api: k8s.ApiClient) -> None:
    before = kube.get("apps", "deployments", "shop", "api")
    answer = k8s.AppsV1Api(api).patch_namespaced_deployment_scale(
        "api", "shop", {"spec": {"replicas": 7}}, dry_run="All", _content_type="application/merge-patch+json")
    assert answer.spec.replicas == 7
    assert kube.get("apps", "deployments", "shop", "api") == before
    k8s.CoreV1Api(api).patch_node("n1", {"spec": {"unschedulable": True}}, dry_run="All",
                                  _content_type="application/strategic-merge-patch+json")
    assert not kube.get("", "nodes", None, "n1")["spec"].get("unschedulable")
    assert [r.dry_run for r in kube.requests if r.verb == "patch"] == [True, True]


def test_daemonset_pods_and_node_conditions(kube: FakeKube, api: k8s.ApiClient) -> None:
    b.daemonset_pod(kube, "monitoring", "exporter-n1", "n1")
    b.node(kube, "n2", ready=False)
    core = k8s.CoreV1Api(api)
    pod = core.read_namespaced_pod("exporter-n1", "monitoring")
    assert pod.metadata.owner_references[0].kind == "DaemonSet"
    ready = {n.metadata.name: n.status.conditions[0].status for n in core.list_node().items}
    assert ready == {"n1": "True", "n2": "False"}


def _job(name: str, node: str = "n1") -> dict[str, object]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "labels": {"app": "prune"}},
            "spec": {"backoffLimit": 0, "template": {"spec": {
                "nodeName": node, "restartPolicy": "Never",
                "containers": [{"name": "task", "image": "example/prune:1", "command": ["true"]}]}}}}


def test_jobs_are_created_completed_listed_and_deleted(kube: FakeKube, api: k8s.ApiClient) -> None:
    batch = k8s.BatchV1Api(api)
    batch.create_namespaced_job("ops", _job("dry"), dry_run="All")
    assert kube.get("batch", "jobs", "ops", "dry") is None
    created = batch.create_namespaced_job("ops", _job("prune"))
    assert created.metadata.uid and created.status.succeeded == 1
    assert {c.type for c in created.status.conditions} == {"SuccessCriteriaMet", "Complete"}
    with pytest.raises(ApiException) as conflict:
        batch.create_namespaced_job("ops", _job("prune"))
    assert conflict.value.status == 409
    assert [j.metadata.name for j in batch.list_namespaced_job("ops", label_selector="app=prune").items] == ["prune"]
    assert batch.read_namespaced_job("prune", "ops").spec.template.spec.node_name == "n1"
    batch.delete_namespaced_job("prune", "ops", propagation_policy="Background")
    assert kube.list("batch", "jobs", "ops") == []
    with pytest.raises(ApiException) as gone:
        batch.read_namespaced_job("prune", "ops")
    assert gone.value.status == 404


def test_a_test_can_make_a_job_fail_or_hang_and_invalid_jobs_are_refused(kube: FakeKube,
                                                                         api: k8s.ApiClient) -> None:
    batch = k8s.BatchV1Api(api)
    kube.controllers.job_outcome = lambda job: "Failed" if job["metadata"]["name"] == "bad" else "Running"
    failed = batch.create_namespaced_job("ops", _job("bad"))
    assert failed.status.failed == 1 and "Failed" in {c.type for c in failed.status.conditions}
    running = batch.create_namespaced_job("ops", _job("slow"))
    assert running.status.active == 1 and not running.status.conditions
    invalid = _job("no-policy")
    invalid["spec"]["template"]["spec"]["restartPolicy"] = "Always"  # type: ignore[index]
    with pytest.raises(ApiException) as refused:
        batch.create_namespaced_job("ops", invalid)
    assert refused.value.status == 422 and "restartPolicy" in refused.value.body
