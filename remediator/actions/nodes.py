"""Node actions: cordon, uncordon, drain through the Eviction API (PDBs respected, DaemonSet pods skipped)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from remediator.actions.base import ActionContext, Planned, StepBase, StepFailed, TemplateStr
from remediator.cluster import Change, ClusterError, DrainResult, Pod
from remediator.durations import Duration


class CordonParams(StepBase):
    """Mark a node unschedulable."""

    action: Literal["cordon"]
    node: TemplateStr | None = Field(None, description="Node name; default: the target's node.")


class UncordonParams(StepBase):
    """Mark a node schedulable again."""

    action: Literal["uncordon"]
    node: TemplateStr | None = None


async def plan_cordon(p: CordonParams, ctx: ActionContext) -> Planned:
    name = ctx.name(p.node, ctx.target.node, "node")
    node = await ctx.cluster.get_node(name)
    if node.unschedulable:
        return Planned(f"node {name} already cordoned")

    async def apply(dry_run: bool) -> Change:
        return await ctx.cluster.set_unschedulable(name, True, dry_run=dry_run)

    return Planned(f"cordon node {name}", apply, mutating=True, nodes_cordoned=1, touches_nodes=True)


async def plan_uncordon(p: UncordonParams, ctx: ActionContext) -> Planned:
    name = ctx.name(p.node, ctx.target.node, "node")
    node = await ctx.cluster.get_node(name)
    if not node.unschedulable:
        return Planned(f"node {name} is schedulable")

    async def apply(dry_run: bool) -> Change:
        return await ctx.cluster.set_unschedulable(name, False, dry_run=dry_run)

    return Planned(f"uncordon node {name}", apply, mutating=True)


class DrainParams(StepBase):
    """Cordon, evict all but DaemonSet, mirror and denied-namespace pods (each counts as deleted); 429s retried."""

    action: Literal["drain"]
    node: TemplateStr | None = None
    eviction_attempts: int = Field(5, ge=1, le=60, description="Tries per pod while a PDB refuses (429).")
    retry_delay: Duration = Field(default=timedelta(seconds=10), description="Wait between tries.")


def _skip(pod: Pod) -> bool:
    return pod.owner_kind in ("DaemonSet", "Node")


async def _evict_all(ctx: ActionContext, p: DrainParams, pods: list[Pod], skipped: list[Pod],
                     dry_run: bool) -> DrainResult:
    evicted: list[str] = []
    blocked: list[str] = []
    for pod in pods:
        for attempt in range(p.eviction_attempts):
            try:
                await ctx.cluster.evict_pod(pod.namespace, pod.name, dry_run=dry_run)
            except ClusterError as exc:
                if not exc.retryable:
                    raise
                if attempt + 1 < p.eviction_attempts:
                    await ctx.sleep(p.retry_delay.total_seconds())
                continue
            evicted.append(f"{pod.namespace}/{pod.name}")
            break
        else:
            blocked.append(f"{pod.namespace}/{pod.name}")
    return DrainResult(evicted, _names(skipped), blocked)


def _names(pods: list[Pod]) -> list[str]:
    return [f"{x.namespace}/{x.name}" for x in pods]


async def plan_drain(p: DrainParams, ctx: ActionContext) -> Planned:
    name = ctx.name(p.node, ctx.target.node, "node")
    node = await ctx.cluster.get_node(name)
    pods = await ctx.cluster.pods_on_node(name)
    skipped = [pod for pod in pods if _skip(pod)]
    # the namespace guard only sees the (cluster-scoped) node: apply it to every pod the drain would evict
    protected = [pod for pod in pods if not _skip(pod) and ctx.namespace_problem(pod.namespace) is not None]
    evictable = [pod for pod in pods if not _skip(pod) and pod not in protected]
    left = f", leave {len(protected)} in protected namespace(s)" if protected else ""

    async def apply(dry_run: bool) -> Change:
        if not node.unschedulable:
            await ctx.cluster.set_unschedulable(name, True, dry_run=dry_run)
        result = await _evict_all(ctx, p, evictable, skipped, dry_run)
        if result.blocked:
            raise StepFailed(f"drain {name}: PodDisruptionBudget kept refusing eviction of "
                             f"{', '.join(result.blocked)} after {p.eviction_attempts} tries")
        return Change(f"drained node {name}: evicted {len(result.evicted)}, skipped {len(result.skipped)} "
                      f"DaemonSet/mirror pod(s){left}", dry_run,
                      {"evicted": result.evicted, "skipped": result.skipped, "protected": _names(protected)})

    return Planned(f"drain node {name}: evict {len(evictable)} pod(s), skip {len(skipped)} DaemonSet/mirror "
                   f"pod(s){left}", apply, mutating=True, dangerous=True,
                   nodes_cordoned=0 if node.unschedulable else 1, pods_deleted=len(evictable), touches_nodes=True,
                   details={"protected": _names(protected)})
