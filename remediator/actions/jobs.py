"""`node_job`: run a fixed maintenance command on one node as a batch/v1 Job, wait for it, report.

Why a Job and not a shell: what runs (image, argv, host paths, time limits) is fixed by the runbook and checked
when it loads; the alert only chooses the node, and its name passes the Kubernetes name rules first. No template
reaches the image or the command, so a label value can never become code. The Job is pinned with
spec.nodeName (no scheduler: a cordoned node still runs it), mounts host paths only from HOST_PATHS, runs
once (backoffLimit 0) within activeDeadlineSeconds, and is garbage-collected by ttlSecondsAfterFinished.

Its name is derived from (run, step, node): a retried or resumed step that creates it again gets 409 and
waits for the Job already there instead of starting a second one.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from remediator.actions.base import ActionContext, Planned, StepBase, StepFailed, StepRefused, TemplateStr
from remediator.cluster import Change, ClusterError, Job
from remediator.durations import Duration, format_duration
from remediator.names import NameRule, name_problem
from remediator.templating import is_template

#: Host path -> hostPath type. A node job may mount only these: what pruning images (the containerd socket,
#: through crictl) and old logs needs. Anything else is refused when the runbook loads.
HOST_PATHS: dict[str, str] = {
    "/var/log": "Directory",
    "/run/containerd/containerd.sock": "Socket",
}
#: Labels on every Job (and its pod): `kubectl get jobs -A -l app.kubernetes.io/component=node-job`.
JOB_LABELS = {"app.kubernetes.io/managed-by": "tocsin", "app.kubernetes.io/component": "node-job"}
_IMAGE = re.compile(r"[a-z0-9][a-zA-Z0-9._/:@-]*")
_MOUNT_PATH = re.compile(r"/[A-Za-z0-9._/-]*")


def _literal(value: str, what: str) -> str:
    if is_template(value):
        raise ValueError(f"{what} is fixed by the runbook: templates ({{{{ }}}}) are not allowed here")
    return value


class HostMount(BaseModel):
    """One host path from the allow-list, mounted into the Job's container."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host_path: str = Field(description=f"One of {', '.join(HOST_PATHS)}.")
    mount_path: str = Field(description="Absolute path in the container, e.g. /host/var/log.")
    read_only: bool = False

    @field_validator("host_path")
    @classmethod
    def _allowed(cls, value: str) -> str:
        if value not in HOST_PATHS:
            raise ValueError(f"host path {value!r} is not allowed (allowed: {', '.join(HOST_PATHS)})")
        return value

    @field_validator("mount_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not _MOUNT_PATH.fullmatch(value) or ".." in value.split("/"):
            raise ValueError(f"mount path {value!r} must be absolute, without '..' or special characters")
        return value


class NodeJobParams(StepBase):
    """Run `command` in `image` on the node as a Job; wait until it succeeds (or fails: the step fails)."""

    action: Literal["node_job"]
    node: TemplateStr | None = Field(None, description="Node name; default: the target's node.")
    namespace: str = Field("tocsin-node-jobs", description="Where the Jobs are created (RBAC grants it there).")
    image: str = Field(description="Container image, fixed (no templates); pin it by digest or tag.")
    command: list[str] = Field(min_length=1, max_length=32,
                               description="argv, fixed (no templates, no shell unless you write one).")
    host_paths: list[HostMount] = Field(default_factory=list, max_length=len(HOST_PATHS))
    active_deadline: Duration = Field(default=timedelta(minutes=10),
                                      description="activeDeadlineSeconds: Kubernetes stops the Job after this.")
    ttl_after_finished: Duration = Field(default=timedelta(hours=1),
                                         description="ttlSecondsAfterFinished: the finished Job is deleted then.")
    timeout: Duration | None = Field(None, description="How long the step waits (default active_deadline + "
                                     "1m); at the end it deletes the Job and fails.")
    interval: Duration = Field(default=timedelta(seconds=10), description="Poll interval.")

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        _literal(value, "image")
        if not _IMAGE.fullmatch(value):
            raise ValueError(f"{value!r} is not an image reference such as registry/name:tag or name@sha256:...")
        return value

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str]) -> list[str]:
        for arg in value:
            _literal(arg, "command")
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        problem = name_problem(value, NameRule.LABEL)
        if problem is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _bounds(self) -> NodeJobParams:
        if not timedelta(seconds=10) <= self.active_deadline <= timedelta(hours=2):
            raise ValueError("active_deadline must be between 10s and 2h")
        # long enough for the step's next poll to see the finished Job (and for a human to read its logs)
        if not timedelta(minutes=5) <= self.ttl_after_finished <= timedelta(days=7):
            raise ValueError("ttl_after_finished must be between 5m and 7d")
        if not timedelta(seconds=1) <= self.interval <= timedelta(minutes=1):
            raise ValueError("interval must be between 1s and 1m")
        if self.timeout is not None and self.timeout < self.active_deadline:
            raise ValueError("timeout must not be shorter than active_deadline")
        if len({m.mount_path for m in self.host_paths}) < len(self.host_paths):
            raise ValueError("two host_paths share a mount_path")
        return self

    @property
    def wait_bound(self) -> timedelta:
        return self.timeout if self.timeout is not None else self.active_deadline + timedelta(minutes=1)


def job_name(run_id: str, step: str, node: str) -> str:
    """Deterministic per (run, step, node): creating it again finds the same Job."""
    digest = hashlib.sha256(f"{run_id}\0{step}\0{node}".encode()).hexdigest()[:12]
    return f"tocsin-node-job-{digest}"


def job_manifest(p: NodeJobParams, name: str, node: str, run_id: str, step: str) -> dict[str, object]:
    """The batch/v1 Job: everything comes from the runbook except the node (a validated name)."""
    volumes = [{"name": f"host-{i}", "hostPath": {"path": m.host_path, "type": HOST_PATHS[m.host_path]}}
               for i, m in enumerate(p.host_paths)]
    mounts = [{"name": f"host-{i}", "mountPath": m.mount_path, "readOnly": m.read_only}
              for i, m in enumerate(p.host_paths)]
    container = {
        "name": "task", "image": p.image, "command": list(p.command),
        "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "volumeMounts": mounts,
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        # root for the containerd socket and root-owned logs; nothing more (no privileged, no escalation)
        "securityContext": {"runAsUser": 0, "privileged": False, "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True},
    }
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": p.namespace, "labels": dict(JOB_LABELS),
                     "annotations": {"tocsin.io/run": run_id, "tocsin.io/step": step, "tocsin.io/node": node}},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": int(p.active_deadline.total_seconds()),
            "ttlSecondsAfterFinished": int(p.ttl_after_finished.total_seconds()),
            "template": {
                "metadata": {"labels": dict(JOB_LABELS)},
                "spec": {"nodeName": node, "restartPolicy": "Never", "automountServiceAccountToken": False,
                         "tolerations": [{"operator": "Exists"}], "containers": [container], "volumes": volumes},
            },
        },
    }


async def _wait(p: NodeJobParams, ctx: ActionContext, job: Job, node: str) -> Job:
    """Poll until the Job finished; past the bound delete it (its pod stops) and fail the step."""
    deadline = ctx.now() + p.wait_bound
    while not (job.succeeded or job.failed):
        if ctx.now() >= deadline:
            await ctx.cluster.delete_job(job.namespace, job.name, dry_run=False)
            raise StepFailed(f"Job {job.namespace}/{job.name} on node {node} did not finish within "
                             f"{format_duration(p.wait_bound)}; deleted it")
        await ctx.sleep(p.interval.total_seconds())
        job = await ctx.cluster.get_job(job.namespace, job.name)
    return job


async def plan_node_job(p: NodeJobParams, ctx: ActionContext) -> Planned:
    node_name = ctx.name(p.node, ctx.target.node, "node")
    node = await ctx.cluster.get_node(node_name)
    if not node.ready:
        raise StepRefused(f"node {node_name} is not Ready: a Job pinned to it would not run")
    problem = ctx.namespace_problem(p.namespace)
    if problem is not None:
        raise StepRefused(f"node jobs run in namespace {p.namespace}: {problem}")
    name = job_name(ctx.run_id, ctx.field, node_name)
    manifest = job_manifest(p, name, node_name, ctx.run_id, ctx.field)
    what = f"Job {p.namespace}/{name} on node {node_name}: {p.image} {' '.join(p.command)}"

    async def apply(dry_run: bool) -> Change:
        try:
            job = await ctx.cluster.create_job(p.namespace, manifest, dry_run=dry_run)
            reused = False
        except ClusterError as exc:
            if exc.status != 409 or dry_run:
                raise
            job = await ctx.cluster.get_job(p.namespace, name)  # created by an earlier attempt of this step
            reused = True
            if job.node != node_name:
                raise StepFailed(f"Job {p.namespace}/{name} exists but runs on node {job.node}") from exc
        if dry_run:
            return Change(f"would run {what}", True, {"job": name})
        job = await _wait(p, ctx, job, node_name)
        if job.failed:
            raise StepFailed(f"Job {p.namespace}/{name} on node {node_name} failed: {job.message or 'no reason'}")
        again = " (found from an earlier attempt)" if reused else ""
        return Change(f"Job {p.namespace}/{name} on node {node_name} succeeded{again}", False,
                      {"job": name, "namespace": p.namespace, "node": node_name, "reused": reused})

    return Planned(f"run {what} (deadline {format_duration(p.active_deadline)})", apply, mutating=True,
                   touches_nodes=True, details={"job": name, "job_namespace": p.namespace, "node": node_name})
