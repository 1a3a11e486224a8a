"""`tocsin runbook plan`: what a runbook would do for an alert, without any cluster or Prometheus call."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from remediator.actions import action_name
from remediator.durations import format_duration
from remediator.engine import Alert
from remediator.guards import check_namespace
from remediator.runbook import Runbook
from remediator.settings import EngineSettings
from remediator.target import TARGET_RULES, Target, template_context
from remediator.templating import TemplateRefused, render, render_name, render_promql


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


def make_plan(runbook: Runbook, alert: Alert, settings: EngineSettings) -> Plan:
    """Render everything a run would render; guards that need the cluster or history are listed, not run."""
    plan = Plan(runbook.id, runbook.matches(alert.labels))
    context = template_context(alert.labels, alert.annotations)
    try:
        values = {n: render_name(t, context, f"target.{n}", TARGET_RULES[n])
                  for n in TARGET_RULES if (t := getattr(runbook.target, n)) is not None}
    except TemplateRefused as exc:
        plan.refused = str(exc)
        return plan
    target = Target(**values)
    plan.target = target.as_context()
    if runbook.target.workload_from_pod:
        plan.lines.append(f"resolve: the Deployment/StatefulSet owning pod {target.namespace}/{target.pod} "
                          "(read-only lookup at run time)")
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
