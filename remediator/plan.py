"""`tocsin runbook plan`: what a runbook would do for an alert, without any cluster or Prometheus call."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel

from remediator.actions import action_name
from remediator.cluster import ClusterError, WorkloadKind
from remediator.durations import format_duration
from remediator.engine import Alert, Engine
from remediator.fakecluster import ClusterSpec, FakeCluster
from remediator.guards import check_namespace
from remediator.runbook import Runbook
from remediator.settings import EngineSettings
from remediator.store import MemoryStore
from remediator.target import Target, template_context
from remediator.templating import TemplateRefused, render, render_promql

#: Characters of a ReplicaSet's pod-template-hash and of a pod's random suffix (Kubernetes' SafeEncodeString).
_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"
#: A Deployment's pod: <deployment>-<pod-template-hash>-<suffix>; a StatefulSet's: <statefulset>-<ordinal>.
_OWNER_PATTERNS = (("Deployment", re.compile(rf"(?P<name>[a-z0-9][-a-z0-9.]*?)-{_SAFE}{{1,10}}-{_SAFE}{{5}}")),
                   ("StatefulSet", re.compile(r"(?P<name>[a-z0-9][-a-z0-9.]*?)-(0|[1-9][0-9]*)")))
OWNER_KINDS = ("Deployment", "StatefulSet")


@dataclass
class Plan:
    """Rendered target, steps and checks; `refused` says why the engine would stop before acting."""

    runbook: str
    matches: bool
    target: dict[str, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    refused: str | None = None

    def render(self) -> str:
        head = [f"runbook {self.runbook}: alert {'matches' if self.matches else 'does NOT match'}"]
        if self.target:
            head.append("target: " + ", ".join(f"{k}={v}" for k, v in self.target.items()))
        if self.refused:
            head.append(f"REFUSED: {self.refused}")
        return "\n".join(head + self.lines) + "\n"


def _render_fields(step: BaseModel, context: dict[str, object], where: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, value in step.model_dump(mode="json", exclude_none=True, exclude_defaults=True).items():
        out[name] = render(value, context, f"{where}.{name}") if isinstance(value, str) else value
    return out


def owner_from_pod_name(pod: str) -> str | None:
    """"Deployment/<name>" or "StatefulSet/<name>" as the controllers name their pods; None if neither fits."""
    for kind, pattern in _OWNER_PATTERNS:
        found = pattern.fullmatch(pod)
        if found is not None:
            return f"{kind}/{found['name']}"
    return None


class _NoPrometheus:
    """Resolving a target never queries Prometheus."""

    async def holds(self, query: str) -> bool:
        raise AssertionError(f"plan does not query Prometheus ({query})")


@dataclass
class _OwnerByName(FakeCluster):
    """A cluster that knows one thing: which workload owns a pod, from --owner or the pod's name."""

    owner: str | None = None
    said: list[str] = field(default_factory=list)

    async def owner_workload(self, namespace: str, pod: str) -> tuple[WorkloadKind, str] | None:
        found = self.owner or owner_from_pod_name(pod)
        if found is None:
            raise ClusterError(f"cannot tell from the name of pod {namespace}/{pod} which Deployment or "
                               "StatefulSet owns it; pass --owner Deployment/NAME (a run asks the API server)")
        how = "given with --owner" if self.owner else "from the pod's name"
        self.said.append(f"resolve: pod {namespace}/{pod} belongs to {found} ({how}; a run asks the API server)")
        kind, _, name = found.partition("/")
        return WorkloadKind(kind), name


async def resolve_target(runbook: Runbook, alert: Alert, settings: EngineSettings,
                         owner: str | None = None) -> tuple[Target, list[str]]:
    """The target exactly as a run resolves it (Engine.resolve_target: rendering, name rules, the pod's owner),
    with the owner taken from `owner` ("Deployment/web") or the pod's name instead of the API server.
    Returns the target and where its owner came from (empty when the runbook needs none)."""
    cluster = _OwnerByName(ClusterSpec(), datetime.now(UTC), owner=owner)
    engine = Engine(store=MemoryStore(), cluster=cluster, prometheus=_NoPrometheus(), runbooks=[runbook],
                    settings=settings)
    return await engine.resolve_target(runbook, alert.labels, alert.annotations), cluster.said


async def make_plan(runbook: Runbook, alert: Alert, settings: EngineSettings, owner: str | None = None) -> Plan:
    """Render everything a run would render, with the target resolved as a run resolves it (so the rate-limit
    key and `{{ target.deployment }}` are the service's); guards that need the cluster or history are listed,
    not run."""
    plan = Plan(runbook.id, runbook.matches(alert.labels))
    try:
        target, resolved = await resolve_target(runbook, alert, settings, owner)
    except (TemplateRefused, ClusterError) as exc:
        plan.refused = str(exc)
        return plan
    plan.target = target.as_context()
    plan.lines += resolved
    decision = check_namespace(target.namespace, settings)
    if decision.refused:
        plan.refused = decision.reason
    context = template_context(alert.labels, alert.annotations, target)
    safety = runbook.safety
    plan.lines.append(f"guards: cooldown {format_duration(safety.cooldown)}, max {safety.max_runs_per_hour} "
                      f"runs/hour on {target.key()}, circuit breaker after {safety.circuit_breaker.failures} failed "
                      f"verifications, dry run {'ON' if safety.dry_run or settings.dry_run else 'off'}")
    try:
        for i, cond in enumerate(runbook.preconditions):
            plan.lines.append(f"precondition {i}: {render_promql(cond.query, context, f'preconditions[{i}]')}")
        for i, step in enumerate(runbook.steps):
            params = _render_fields(step, context, f"steps[{i}]")
            params.pop("action", None)
            flag = " [needs approval]" if step.dangerous or action_name(step) in ("drain", "approval") else ""
            plan.lines.append(f"step {i}: {action_name(step)} {params}{flag}")
        if runbook.verify is not None:
            query = render_promql(runbook.verify.query, context, "verify.query")
            plan.lines.append(f"verify within {format_duration(runbook.verify.within)}: {query}")
        for i, step in enumerate(runbook.on_failure.rollback):
            plan.lines.append(f"on failure, rollback {i}: {action_name(step)} "
                              f"{_render_fields(step, context, f'rollback[{i}]')}")
    except TemplateRefused as exc:
        plan.refused = str(exc)
    plan.lines.append("on failure: " + ("escalate (page)" if runbook.on_failure.escalate else "let the hold expire"))
    return plan
