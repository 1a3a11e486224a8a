"""Workload actions: scale, rollout restart, check the last rollout, patch container resources."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from remediator.actions.base import ActionContext, Planned, StepBase, StepRefused, TemplateStr
from remediator.cluster import Change, WorkloadKind
from remediator.durations import Duration, format_duration
from remediator.names import NameRule, format_bytes, parse_quantity

ResourceName = Literal["cpu", "memory", "ephemeral-storage"]


class ScaleParams(StepBase):
    """Set replicas (absolute or relative), clamped to [min, max]."""

    action: Literal["scale"]
    kind: WorkloadKind = WorkloadKind.DEPLOYMENT
    name: TemplateStr | None = Field(None, description="Workload name; default: the target's.")
    replicas: int | None = Field(None, ge=0, description="Absolute replica count.")
    by: int | None = Field(None, description="Relative change, e.g. 2 or -1.")
    min: int = Field(1, ge=0, description="Never go below this.")
    max: int = Field(ge=1, description="Never go above this (required: scaling is bounded).")

    @model_validator(mode="after")
    def _one_of(self) -> ScaleParams:
        if (self.replicas is None) == (self.by is None):
            raise ValueError("give exactly one of replicas or by")
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


async def plan_scale(p: ScaleParams, ctx: ActionContext) -> Planned:
    ns, name = ctx.namespace(), ctx.workload_name(p.kind, p.name)
    current = (await ctx.cluster.get_workload(p.kind, ns, name)).replicas
    wanted = p.replicas if p.replicas is not None else current + (p.by or 0)
    desired = max(p.min, min(p.max, wanted))
    if desired == current:
        return Planned(f"{p.kind} {ns}/{name} already at {current} replicas (bounds {p.min}..{p.max})")

    async def apply(dry_run: bool) -> Change:
        return await ctx.cluster.scale(p.kind, ns, name, desired, dry_run=dry_run)

    return Planned(f"scale {p.kind} {ns}/{name} {current} -> {desired}", apply, mutating=True,
                   pods_deleted=max(0, current - desired), details={"from": current, "to": desired})


class RolloutRestartParams(StepBase):
    """Restart all pods the way `kubectl rollout restart` does (restartedAt annotation)."""

    action: Literal["rollout_restart"]
    kind: WorkloadKind = WorkloadKind.DEPLOYMENT
    name: TemplateStr | None = Field(None, description="Workload name; default: the target's.")


async def plan_rollout_restart(p: RolloutRestartParams, ctx: ActionContext) -> Planned:
    ns, name = ctx.namespace(), ctx.workload_name(p.kind, p.name)
    workload = await ctx.cluster.get_workload(p.kind, ns, name)

    async def apply(dry_run: bool) -> Change:
        return await ctx.cluster.rollout_restart(p.kind, ns, name, ctx.now(), dry_run=dry_run)

    return Planned(f"rollout restart {p.kind} {ns}/{name} ({workload.replicas} replicas)", apply,
                   mutating=True)


class CheckRecentRolloutParams(StepBase):
    """Stop when the workload was rolled out less than min_age ago: a restart will not fix a bad deploy."""

    action: Literal["check_recent_rollout"]
    kind: WorkloadKind = WorkloadKind.DEPLOYMENT
    name: TemplateStr | None = None
    min_age: Duration = Field(description="The last rollout must be at least this old.")
    if_recent: Literal["escalate", "skip"] = Field(
        "escalate", description="escalate: page a human with the reason; skip: end quietly.")


async def plan_check_recent_rollout(p: CheckRecentRolloutParams, ctx: ActionContext) -> Planned:
    ns, name = ctx.namespace(), ctx.workload_name(p.kind, p.name)
    workload = await ctx.cluster.get_workload(p.kind, ns, name)
    if workload.last_rollout is None:
        return Planned(f"{p.kind} {ns}/{name}: no rollout recorded")
    age = ctx.now() - workload.last_rollout
    if age < p.min_age:
        raise StepRefused(
            f"{p.kind} {ns}/{name} was rolled out {format_duration(age)} ago (< {format_duration(p.min_age)}): "
            "likely a bad deploy, a restart will not help", escalate=p.if_recent == "escalate")
    return Planned(f"{p.kind} {ns}/{name}: last rollout {format_duration(age)} ago")


class PatchResourcesParams(StepBase):
    """Patch one container's requests/limits (strategic merge); memory can grow by a factor up to a cap."""

    action: Literal["patch_resources"]
    kind: WorkloadKind = WorkloadKind.DEPLOYMENT
    name: TemplateStr | None = None
    container: TemplateStr | None = Field(None, description="Container name; default: the target's.")
    requests: dict[ResourceName, str] = Field(default_factory=dict)
    limits: dict[ResourceName, str] = Field(default_factory=dict)
    memory_limit_factor: float | None = Field(None, gt=1, le=4, description="Multiply the memory limit.")
    max_memory_limit: str | None = Field(None, description="Cap for memory_limit_factor, e.g. 4Gi.")

    @model_validator(mode="after")
    def _check(self) -> PatchResourcesParams:
        for value in [*self.requests.values(), *self.limits.values(), self.max_memory_limit or "0"]:
            parse_quantity(value)
        if not (self.requests or self.limits or self.memory_limit_factor):
            raise ValueError("nothing to patch: give requests, limits or memory_limit_factor")
        if (self.memory_limit_factor is None) != (self.max_memory_limit is None):
            raise ValueError("memory_limit_factor and max_memory_limit go together")
        return self


async def plan_patch_resources(p: PatchResourcesParams, ctx: ActionContext) -> Planned:
    ns, name = ctx.namespace(), ctx.workload_name(p.kind, p.name)
    container = ctx.name(p.container, ctx.target.container, "container", NameRule.LABEL)
    workload = await ctx.cluster.get_workload(p.kind, ns, name)
    if container not in workload.containers:
        raise StepRefused(f"{p.kind} {ns}/{name} has no container {container!r}")
    limits: dict[str, str] = {str(k): v for k, v in p.limits.items()}
    if p.memory_limit_factor is not None and p.max_memory_limit is not None:
        current_text = workload.containers[container].get("limits", {}).get("memory")
        if current_text is None:
            raise StepRefused(f"container {container!r} has no memory limit to raise")
        current, cap = parse_quantity(current_text), parse_quantity(p.max_memory_limit)
        if current >= cap:
            raise StepRefused(f"memory limit {current_text} already at the cap {p.max_memory_limit}")
        limits["memory"] = format_bytes(min(cap, current * Decimal(str(p.memory_limit_factor))))
    requests: dict[str, str] = {str(k): v for k, v in p.requests.items()}
    resources = {k: v for k, v in (("requests", requests), ("limits", limits)) if v}
    before = workload.containers[container]

    async def apply(dry_run: bool) -> Change:
        return await ctx.cluster.patch_resources(p.kind, ns, name, container, resources, dry_run=dry_run)

    return Planned(f"patch {p.kind} {ns}/{name} container {container}: {before} -> {resources}", apply,
                   mutating=True, details={"before": before, "after": resources})
