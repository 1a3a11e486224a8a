"""Waits: for a rollout to complete, for a PromQL condition to hold (time and sleep are injected)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from remediator.actions.base import ActionContext, Planned, StepBase, StepFailed, TemplateStr
from remediator.cluster import Change, WorkloadKind
from remediator.durations import Duration, format_duration


class WaitRolloutParams(StepBase):
    """Wait until every replica is updated, ready and available."""

    action: Literal["wait_rollout"]
    kind: WorkloadKind = WorkloadKind.DEPLOYMENT
    name: TemplateStr | None = None
    timeout: Duration = Field(default=timedelta(minutes=5))
    interval: Duration = Field(default=timedelta(seconds=5))


async def plan_wait_rollout(p: WaitRolloutParams, ctx: ActionContext) -> Planned:
    ns, name = ctx.namespace(), ctx.workload_name(p.kind, p.name)

    async def apply(dry_run: bool) -> Change:
        if dry_run:
            return Change(f"would wait for {p.kind} {ns}/{name} to roll out", True)
        deadline = ctx.now() + p.timeout
        while True:
            workload = await ctx.cluster.get_workload(p.kind, ns, name)
            if workload.rollout_complete:
                return Change(f"{p.kind} {ns}/{name} rolled out ({workload.ready_replicas} ready)", False)
            if ctx.now() >= deadline:
                raise StepFailed(f"{p.kind} {ns}/{name} not rolled out after {format_duration(p.timeout)}: "
                                 f"{workload.updated_replicas} updated, {workload.ready_replicas} ready "
                                 f"of {workload.replicas}")
            await ctx.sleep(p.interval.total_seconds())

    return Planned(f"wait up to {format_duration(p.timeout)} for {p.kind} {ns}/{name} to roll out", apply)


class WaitPromqlParams(StepBase):
    """Wait until a PromQL expression returns a sample."""

    action: Literal["wait_promql"]
    query: TemplateStr
    within: Duration
    interval: Duration = Field(default=timedelta(seconds=10))


async def plan_wait_promql(p: WaitPromqlParams, ctx: ActionContext) -> Planned:
    query = ctx.promql(p.query)

    async def apply(dry_run: bool) -> Change:
        if dry_run:
            return Change(f"would wait for {query}", True)
        deadline = ctx.now() + p.within
        while not await ctx.prometheus.holds(query):
            if ctx.now() >= deadline:
                raise StepFailed(f"{query} did not hold within {format_duration(p.within)}")
            await ctx.sleep(p.interval.total_seconds())
        return Change(f"holds: {query}", False)

    return Planned(f"wait up to {format_duration(p.within)} for {query}", apply)
