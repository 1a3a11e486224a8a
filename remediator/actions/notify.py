"""Post a message to the incident's channels through the engine's event sink."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from remediator.actions.base import ActionContext, Planned, StepBase, TemplateStr
from remediator.cluster import Change


class NotifyParams(StepBase):
    """Post a message (rendered from labels/annotations/target) to the incident's timeline and channels."""

    action: Literal["notify"]
    message: TemplateStr = Field(max_length=2000)


async def plan_notify(p: NotifyParams, ctx: ActionContext) -> Planned:
    message = ctx.text(p.message, "message")

    async def apply(dry_run: bool) -> Change:
        await ctx.emit(f"[dry run] {message}" if dry_run else message)
        return Change(f"posted: {message[:200]}", dry_run)

    return Planned(f"post message: {message[:200]}", apply)
