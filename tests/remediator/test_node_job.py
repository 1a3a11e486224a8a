"""`node_job`: what a runbook may put in a Job (checked at load), and the Job's life against the fake API server
through the real client: idempotent on retry, dry run, bounded wait (the overrunning Job is deleted)."""

from __future__ import annotations

from typing import Any

import pytest

from remediator.actions import plan_step
from remediator.actions.base import ActionContext, StepFailed, StepRefused
from remediator.actions.jobs import NodeJobParams, job_manifest, job_name
from remediator.casetest import FakePrometheus, PrometheusSpec
from remediator.kube import KubeCluster
from remediator.loader import RunbookError, parse_runbook
from remediator.settings import EngineSettings
from remediator.target import Target, template_context
from tests.fakekube import FakeKube
from tests.fakekube import builders as b
from tests.support.clock import FakeClock

RUNBOOK = """
id: prune
description: prune
owner: team-test
match: ['alertname="X"']
target: {node: "{{ labels.node }}"}
steps:
  - action: node_job
    image: %(image)s
    command: %(command)s
    host_paths: %(host_paths)s
    %(extra)s
"""
GOOD = {"image": "example/prune:1", "command": "[crictl, rmi, --prune]", "extra": "",
        "host_paths": "[{host_path: /run/containerd/containerd.sock, mount_path: /run/containerd/containerd.sock}]"}


@pytest.mark.parametrize(("change", "message"), [
    ({"host_paths": "[{host_path: /etc, mount_path: /host/etc}]"}, "host path '/etc' is not allowed"),
    ({"host_paths": "[{host_path: /var/log, mount_path: /host/../etc}]"}, "must be absolute, without '..'"),
    ({"command": "[rm, -rf, '{{ labels.path }}']"}, "command is fixed by the runbook"),
    ({"image": "'example/{{ labels.image }}:1'"}, "image is fixed by the runbook"),
    ({"image": "'example/prune:1; curl x'"}, "is not an image reference"),
    ({"extra": "active_deadline: 10m\n    timeout: 5m"}, "timeout must not be shorter than active_deadline"),
    ({"extra": "active_deadline: 3h"}, "active_deadline must be between 10s and 2h"),
    ({"extra": "ttl_after_finished: 0s"}, "ttl_after_finished must be between 5m and 7d"),
    ({"extra": "namespace: Kube_System"}, "not a valid DNS-1123 label"),
])
def test_what_a_job_may_run_is_checked_when_the_runbook_loads(change: dict[str, str], message: str) -> None:
    with pytest.raises(RunbookError) as err:
        parse_runbook(RUNBOOK % {**GOOD, **change}, "prune.yaml")
    assert message in str(err.value) and "prune.yaml:" in str(err.value)


def test_the_manifest_pins_the_node_and_mounts_only_what_the_runbook_names() -> None:
    step = parse_runbook(RUNBOOK % GOOD, "prune.yaml").steps[0]
    assert isinstance(step, NodeJobParams)
    name = job_name("run-7", "steps[0]", "n1")
    assert name == job_name("run-7", "steps[0]", "n1") != job_name("run-8", "steps[0]", "n1")
    manifest: Any = job_manifest(step, name, "n1", "run-7", "steps[0]")
    pod = manifest["spec"]["template"]["spec"]
    assert pod["nodeName"] == "n1" and pod["automountServiceAccountToken"] is False
    assert pod["volumes"] == [{"name": "host-0", "hostPath": {"path": "/run/containerd/containerd.sock",
                                                             "type": "Socket"}}]
    assert pod["containers"][0]["command"] == ["crictl", "rmi", "--prune"]
    assert pod["containers"][0]["securityContext"]["privileged"] is False
    assert manifest["metadata"]["annotations"] == {"tocsin.io/run": "run-7", "tocsin.io/step": "steps[0]",
                                                   "tocsin.io/node": "n1"}
    assert manifest["spec"]["backoffLimit"] == 0 and manifest["spec"]["activeDeadlineSeconds"] == 600


def context(cluster: KubeCluster, clock: FakeClock, settings: EngineSettings | None = None) -> ActionContext:
    target = Target(node="n1")

    async def emit(message: str) -> None:
        raise AssertionError(message)

    async def no_http(method: str, url: str, body: dict[str, str] | None, timeout_seconds: float) -> int:
        raise AssertionError(url)

    return ActionContext(cluster, FakePrometheus(PrometheusSpec()), target, template_context({}, {}, target),
                         clock.now, clock.sleep, emit, no_http, (),
                         (settings or EngineSettings()).namespace_problem, field="steps[0]", run_id="run-7")


def step(**extra: Any) -> NodeJobParams:
    return NodeJobParams.model_validate({"action": "node_job", "image": "example/prune:1", "command": ["true"],
                                         **extra})


async def test_a_retried_step_finds_its_job_instead_of_starting_another(kube: FakeKube, cluster: KubeCluster,
                                                                        clock: FakeClock) -> None:
    b.node(kube, "n1")
    planned = await plan_step(step(), context(cluster, clock))
    assert planned.touches_nodes and planned.mutating and planned.apply is not None
    first = await planned.apply(False)
    again = await (await plan_step(step(), context(cluster, clock))).apply(False)  # e.g. after a crash
    assert "succeeded" in first.summary and "found from an earlier attempt" in again.summary
    assert len(kube.list("batch", "jobs", "tocsin-node-jobs")) == 1
    # the first create answers a finished Job (the fake runs it at once); the second gets 409, then reads it
    assert [r.verb for r in kube.requests if r.resource == "jobs"] == ["create", "create", "get"]


async def test_dry_run_creates_nothing(kube: FakeKube, cluster: KubeCluster, clock: FakeClock) -> None:
    b.node(kube, "n1")
    planned = await plan_step(step(), context(cluster, clock))
    assert planned.apply is not None
    change = await planned.apply(True)
    assert change.dry_run and change.summary.startswith("would run Job tocsin-node-jobs/tocsin-node-job-")
    assert kube.list("batch", "jobs") == []
    assert [r.dry_run for r in kube.requests if r.resource == "jobs"] == [True]


async def test_a_job_past_its_bound_is_deleted_and_the_step_fails(kube: FakeKube, cluster: KubeCluster,
                                                                  clock: FakeClock) -> None:
    b.node(kube, "n1")
    kube.controllers.job_outcome = lambda job: "Running"
    started = clock.now()
    planned = await plan_step(step(active_deadline="2m", interval="20s"), context(cluster, clock))
    assert planned.apply is not None
    with pytest.raises(StepFailed, match="did not finish within 3m; deleted it"):
        await planned.apply(False)
    assert kube.list("batch", "jobs") == []
    assert clock.now() - started >= step(active_deadline="2m").wait_bound
    assert [r.verb for r in kube.requests if r.resource == "jobs"][-1] == "delete"


async def test_refused_on_a_node_that_is_not_ready_or_in_a_denied_namespace(kube: FakeKube, cluster: KubeCluster,
                                                                           clock: FakeClock) -> None:
    b.node(kube, "n1", ready=False)
    with pytest.raises(StepRefused, match="node n1 is not Ready"):
        await plan_step(step(), context(cluster, clock))
    b.node(kube, "n1")
    denied = EngineSettings(namespace_deny=("tocsin-node-jobs",))
    with pytest.raises(StepRefused, match="namespace tocsin-node-jobs is on the deny list"):
        await plan_step(step(), context(cluster, clock, denied))
    assert not [r for r in kube.requests if r.resource == "jobs"]
