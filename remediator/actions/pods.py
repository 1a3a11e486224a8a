"""Pod actions: delete one pod, delete a workload's pods that are not Ready (bounded)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from remediator.actions.base import ActionContext, Planned, StepBase, TemplateStr
from remediator.cluster import Change, WorkloadKind


class DeletePodParams(StepBase):
    """Delete one pod (its controller recreates it)."""

    action: Literal["delete_pod"]
    name: TemplateStr | None = Field(None, description="Pod name; default: the target's pod.")


async def plan_delete_pod(p: DeletePodParams, ctx: ActionContext) -> Planned:
    ns, name = ctx.namespace(), ctx.name(p.name, ctx.target.pod, "pod")
    pod = await ctx.cluster.get_pod(ns, name)

    async def apply(dry_run: bool) -> Change:
        return await ctx.cluster.delete_pod(ns, name, dry_run=dry_run)

    state = "Ready" if pod.ready else "not Ready"
    return Planned(f"delete pod {ns}/{name} ({state}, node {pod.node})", apply, mutating=True, pods_deleted=1)


class DeleteUnreadyPodsParams(StepBase):
    """Delete up to max_pods pods of a workload that are not Ready, so they get rescheduled."""

    action: Literal["delete_unready_pods"]
    kind: WorkloadKind = WorkloadKind.DEPLOYMENT
    name: TemplateStr | None = None
    max_pods: int = Field(1, ge=1, le=20, description="Delete at most this many pods in this step.")


async def plan_delete_unready_pods(p: DeleteUnreadyPodsParams, ctx: ActionContext) -> Planned:
    ns, name = ctx.namespace(), ctx.workload_name(p.kind, p.name)
    workload = await ctx.cluster.get_workload(p.kind, ns, name)
    pods = await ctx.cluster.list_pods(ns, workload.selector)
    victims = sorted(pod.name for pod in pods if not pod.ready)[: p.max_pods]
    if not victims:
        return Planned(f"{p.kind} {ns}/{name}: all {len(pods)} pods are Ready, nothing to delete")

    async def apply(dry_run: bool) -> Change:
        for victim in victims:
            await ctx.cluster.delete_pod(ns, victim, dry_run=dry_run)
        return Change(f"deleted {len(victims)} pod(s): {', '.join(victims)}", dry_run, {"pods": victims})

    return Planned(f"delete {len(victims)} not-Ready pod(s) of {p.kind} {ns}/{name}: {', '.join(victims)}",
                   apply, mutating=True, pods_deleted=len(victims))
