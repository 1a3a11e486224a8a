"""Ask a human: the run pauses durably (awaiting_approval) until approved, rejected or timed out."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from remediator.actions.base import ActionContext, Planned, StepBase, TemplateStr
from remediator.durations import Duration


class ApprovalParams(StepBase):
    """Pause the run until a responder approves (API, console, Slack); on timeout, on_failure runs."""

    action: Literal["approval"]
    message: TemplateStr = Field(description="What the approver is asked.")
    timeout: Duration = Field(default=timedelta(minutes=30))


async def plan_approval(p: ApprovalParams, ctx: ActionContext) -> Planned:
    return Planned(f"ask for approval: {ctx.text(p.message, 'message')}", dangerous=True,
                   approval_timeout=p.timeout)
