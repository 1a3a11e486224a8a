"""Storage actions: request a PersistentVolumeClaim expansion, bounded by a maximum size."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator

from remediator.actions.base import ActionContext, Planned, StepBase, StepRefused, TemplateStr
from remediator.cluster import Change
from remediator.names import format_bytes, parse_quantity


class ExpandPvcParams(StepBase):
    """Grow a PVC's storage request by a percentage, never above max_size (StorageClass must allow it)."""

    action: Literal["expand_pvc"]
    name: TemplateStr | None = Field(None, description="PVC name; default: the target's pvc.")
    increase_percent: int = Field(50, ge=1, le=400)
    max_size: str = Field(description="Never request more than this, e.g. 200Gi.")
    approval_above: str | None = Field(None, description="A new size above this needs approval.")

    @field_validator("max_size", "approval_above")
    @classmethod
    def _quantity(cls, value: str | None) -> str | None:
        if value is not None:
            parse_quantity(value)
        return value


async def plan_expand_pvc(p: ExpandPvcParams, ctx: ActionContext) -> Planned:
    ns, name = ctx.namespace(), ctx.name(p.name, ctx.target.pvc, "pvc")
    pvc = await ctx.cluster.get_pvc(ns, name)
    current, cap = parse_quantity(pvc.requested), parse_quantity(p.max_size)
    if current >= cap:
        raise StepRefused(f"PVC {ns}/{name} already requests {pvc.requested} (max {p.max_size})")
    new = format_bytes(min(cap, current * (1 + Decimal(p.increase_percent) / 100)))

    async def apply(dry_run: bool) -> Change:
        return await ctx.cluster.resize_pvc(ns, name, new, dry_run=dry_run)

    dangerous = p.approval_above is not None and parse_quantity(new) > parse_quantity(p.approval_above)
    return Planned(f"expand PVC {ns}/{name} {pvc.requested} -> {new}", apply, mutating=True,
                   dangerous=dangerous, details={"from": pvc.requested, "to": new})
