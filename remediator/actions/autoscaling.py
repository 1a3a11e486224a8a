"""HorizontalPodAutoscaler actions: set bounds, raise max within a ceiling (approval above a threshold)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from remediator.actions.base import ActionContext, Planned, StepBase, StepRefused, TemplateStr
from remediator.cluster import Change


class SetHpaParams(StepBase):
    """Set minReplicas and/or maxReplicas."""

    action: Literal["set_hpa"]
    name: TemplateStr | None = Field(None, description="HPA name; default: the target's hpa.")
    min_replicas: int | None = Field(None, ge=1)
    max_replicas: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _some(self) -> SetHpaParams:
        if self.min_replicas is None and self.max_replicas is None:
            raise ValueError("give min_replicas and/or max_replicas")
        if self.min_replicas and self.max_replicas and self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must not exceed max_replicas")
        return self


async def plan_set_hpa(p: SetHpaParams, ctx: ActionContext) -> Planned:
    ns, name = ctx.namespace(), ctx.name(p.name, ctx.target.hpa, "hpa")
    hpa = await ctx.cluster.get_hpa(ns, name)

    async def apply(dry_run: bool) -> Change:
        return await ctx.cluster.set_hpa_bounds(ns, name, p.min_replicas, p.max_replicas, dry_run=dry_run)

    return Planned(f"set HPA {ns}/{name} min {hpa.min_replicas} -> {p.min_replicas or hpa.min_replicas}, "
                   f"max {hpa.max_replicas} -> {p.max_replicas or hpa.max_replicas}", apply, mutating=True)


class RaiseHpaMaxParams(StepBase):
    """Raise maxReplicas by increase_by, never above ceiling; above approval_above a human must approve."""

    action: Literal["raise_hpa_max"]
    name: TemplateStr | None = None
    increase_by: int = Field(ge=1, description="Add this many replicas to maxReplicas.")
    ceiling: int = Field(ge=1, description="Hard upper bound for maxReplicas.")
    approval_above: int | None = Field(None, ge=1, description="New max above this needs approval.")


async def plan_raise_hpa_max(p: RaiseHpaMaxParams, ctx: ActionContext) -> Planned:
    ns, name = ctx.namespace(), ctx.name(p.name, ctx.target.hpa, "hpa")
    hpa = await ctx.cluster.get_hpa(ns, name)
    if hpa.max_replicas >= p.ceiling:
        raise StepRefused(f"HPA {ns}/{name} maxReplicas {hpa.max_replicas} already at the ceiling {p.ceiling}")
    new_max = min(p.ceiling, hpa.max_replicas + p.increase_by)

    async def apply(dry_run: bool) -> Change:
        return await ctx.cluster.set_hpa_bounds(ns, name, None, new_max, dry_run=dry_run)

    needs_approval = p.approval_above is not None and new_max > p.approval_above
    return Planned(f"raise HPA {ns}/{name} maxReplicas {hpa.max_replicas} -> {new_max}", apply, mutating=True,
                   dangerous=needs_approval, details={"from": hpa.max_replicas, "to": new_max})
