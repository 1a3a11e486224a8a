"""Every action, in one explicit table: its parameter model (validated at load) and its planner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from pydantic import Field

from remediator.actions import (
    approval,
    autoscaling,
    http,
    jobs,
    nodes,
    notify,
    pods,
    storage,
    wait,
    workloads,
)
from remediator.actions.base import ActionContext, Planned, StepBase

Step = Annotated[
    workloads.ScaleParams | workloads.RolloutRestartParams | workloads.CheckRecentRolloutParams
    | workloads.PatchResourcesParams | pods.DeletePodParams | pods.DeleteUnreadyPodsParams
    | nodes.CordonParams | nodes.UncordonParams | nodes.DrainParams
    | autoscaling.SetHpaParams | autoscaling.RaiseHpaMaxParams | storage.ExpandPvcParams
    | http.HttpParams | notify.NotifyParams | approval.ApprovalParams
    | wait.WaitRolloutParams | wait.WaitPromqlParams | jobs.NodeJobParams,
    Field(discriminator="action"),
]

Planner = Callable[[Any, ActionContext], Awaitable[Planned]]

#: action name -> (parameter model, planner). The one place an action is declared.
ACTIONS: dict[str, tuple[type[StepBase], Planner]] = {
    "scale": (workloads.ScaleParams, workloads.plan_scale),
    "rollout_restart": (workloads.RolloutRestartParams, workloads.plan_rollout_restart),
    "check_recent_rollout": (workloads.CheckRecentRolloutParams, workloads.plan_check_recent_rollout),
    "patch_resources": (workloads.PatchResourcesParams, workloads.plan_patch_resources),
    "delete_pod": (pods.DeletePodParams, pods.plan_delete_pod),
    "delete_unready_pods": (pods.DeleteUnreadyPodsParams, pods.plan_delete_unready_pods),
    "cordon": (nodes.CordonParams, nodes.plan_cordon),
    "uncordon": (nodes.UncordonParams, nodes.plan_uncordon),
    "drain": (nodes.DrainParams, nodes.plan_drain),
    "node_job": (jobs.NodeJobParams, jobs.plan_node_job),
    "set_hpa": (autoscaling.SetHpaParams, autoscaling.plan_set_hpa),
    "raise_hpa_max": (autoscaling.RaiseHpaMaxParams, autoscaling.plan_raise_hpa_max),
    "expand_pvc": (storage.ExpandPvcParams, storage.plan_expand_pvc),
    "http": (http.HttpParams, http.plan_http),
    "notify": (notify.NotifyParams, notify.plan_notify),
    "approval": (approval.ApprovalParams, approval.plan_approval),
    "wait_rollout": (wait.WaitRolloutParams, wait.plan_wait_rollout),
    "wait_promql": (wait.WaitPromqlParams, wait.plan_wait_promql),
}


def action_name(step: StepBase) -> str:
    """The `action:` discriminator of a step."""
    return str(getattr(step, "action"))  # noqa: B009 - every member of Step has it


async def plan_step(step: StepBase, ctx: ActionContext) -> Planned:
    """Work out what step would do (read-only cluster calls only)."""
    _, planner = ACTIONS[action_name(step)]
    planned = await planner(step, ctx)
    planned.dangerous = planned.dangerous or step.dangerous
    return planned
