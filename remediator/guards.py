"""The safety envelope: decisions taken before a run starts and before every action, each with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from remediator.actions.base import Planned
from remediator.cluster import Node
from remediator.durations import format_duration
from remediator.records import ApprovalDecision, ApprovalRecord, Effects, RunRecord
from remediator.runbook import Runbook
from remediator.settings import EngineSettings
from remediator.store import RunStore


class Verdict(StrEnum):
    """What the envelope decided."""

    ALLOW = "allow"
    DRY_RUN = "dry_run"  # allowed, with server-side dry run
    NEEDS_APPROVAL = "needs_approval"
    REFUSE = "refuse"


class Guard(StrEnum):
    """Which guard decided (a metric label: tocsin_remediation_guard_refusals{guard})."""

    NONE = "none"
    TEMPLATE = "template"  # a label value is not a valid Kubernetes name
    NAMESPACE = "namespace"
    COOLDOWN = "cooldown"
    RATE_LIMIT = "rate_limit"
    CONCURRENCY = "concurrency"
    CIRCUIT_BREAKER = "circuit_breaker"
    BLAST_RADIUS = "blast_radius"
    NODES_READY = "nodes_ready"
    APPROVAL = "approval"
    DRY_RUN = "dry_run"
    ACTION = "action"  # the action itself declined (e.g. a recent deploy)


@dataclass(frozen=True)
class Decision:
    """A verdict, the guard that gave it and a sentence for the audit log and the timeline."""

    verdict: Verdict
    guard: Guard
    reason: str

    @property
    def refused(self) -> bool:
        return self.verdict is Verdict.REFUSE


ALLOW = Decision(Verdict.ALLOW, Guard.NONE, "allowed")


def check_namespace(namespace: str | None, settings: EngineSettings) -> Decision:
    """Deny list wins; a non-empty allow list must contain the namespace. Cluster-scoped targets pass."""
    problem = None if namespace is None else settings.namespace_problem(namespace)
    return ALLOW if problem is None else Decision(Verdict.REFUSE, Guard.NAMESPACE, problem)


async def check_circuit(runbook: Runbook, store: RunStore, now: datetime) -> Decision:
    breaker = runbook.safety.circuit_breaker
    failed = await store.failed_verifications_since(runbook.id, now - breaker.window)
    if failed >= breaker.failures:
        return Decision(Verdict.REFUSE, Guard.CIRCUIT_BREAKER,
                        f"circuit open: {failed} failed verifications of {runbook.id} in the last "
                        f"{format_duration(breaker.window)} (limit {breaker.failures})")
    return ALLOW


async def admit_run(runbook: Runbook, run: RunRecord, target_key: str, namespace: str | None,
                    store: RunStore, settings: EngineSettings, now: datetime) -> Decision:
    """Before a run claims its target: namespace, circuit breaker, cooldown, runs per hour."""
    for decision in (check_namespace(namespace, settings), await check_circuit(runbook, store, now)):
        if decision.refused:
            return decision
    safety = runbook.safety
    recent = [r for r in await store.runs_for_target_since(target_key, now - max(safety.cooldown, timedelta(hours=1)))
              if r.id != run.id]
    last = max((r.started_at for r in recent if r.started_at is not None), default=None)
    if last is not None and now - last < safety.cooldown:
        return Decision(Verdict.REFUSE, Guard.COOLDOWN,
                        f"{target_key} was acted on {format_duration(now - last)} ago "
                        f"(cooldown {format_duration(safety.cooldown)})")
    in_hour = sum(1 for r in recent if r.started_at is not None and r.started_at >= now - timedelta(hours=1))
    if in_hour >= safety.max_runs_per_hour:
        return Decision(Verdict.REFUSE, Guard.RATE_LIMIT,
                        f"{in_hour} runs on {target_key} in the last hour (limit {safety.max_runs_per_hour})")
    return ALLOW


def blast_limit(runbook: Runbook, settings: EngineSettings) -> Effects:
    """The lower of the runbook's and the engine's blast-radius limits."""
    radius = runbook.safety.blast_radius
    return Effects(min(radius.max_pods_deleted, settings.max_pods_deleted),
                   min(radius.max_nodes_cordoned, settings.max_nodes_cordoned))


def blast_refusal(pods: int, nodes: int, done: Effects, limit: Effects, window: timedelta) -> Decision | None:
    """The refusal when `pods`/`nodes` more would exceed `limit`, `done` (applied or in flight) being spent."""
    if done.pods_deleted + pods > limit.pods_deleted:
        return Decision(Verdict.REFUSE, Guard.BLAST_RADIUS,
                        f"would delete {pods} pod(s); {done.pods_deleted} already deleted or being deleted in "
                        f"the last {format_duration(window)} (limit {limit.pods_deleted})")
    if done.nodes_cordoned + nodes > limit.nodes_cordoned:
        return Decision(Verdict.REFUSE, Guard.BLAST_RADIUS,
                        f"would cordon a node; {done.nodes_cordoned} already cordoned or being cordoned in the "
                        f"last {format_duration(window)} (limit {limit.nodes_cordoned})")
    return None


def _ready_ratio(nodes: list[Node]) -> float:
    return 100.0 * sum(1 for n in nodes if n.ready) / len(nodes) if nodes else 0.0


async def check_action(planned: Planned, *, runbook: Runbook, run: RunRecord, namespace: str | None,
                       store: RunStore, settings: EngineSettings, now: datetime, nodes: list[Node] | None,
                       approval: ApprovalRecord | None) -> Decision:
    """Before every action. `nodes` is required when planned.touches_nodes."""
    for decision in (check_namespace(namespace, settings), await check_circuit(runbook, store, now)):
        if decision.refused:
            return decision
    radius = runbook.safety.blast_radius
    if planned.pods_deleted or planned.nodes_cordoned:
        # an early look, so that a step over budget does not ask for approval; the executor reserves the
        # budget atomically (RunStore.reserve_step) right before it acts
        done = await store.effects_since(now - radius.window)
        refusal = blast_refusal(planned.pods_deleted, planned.nodes_cordoned, done, blast_limit(runbook, settings),
                                radius.window)
        if refusal is not None:
            return refusal
    if planned.touches_nodes:
        ratio = _ready_ratio(nodes or [])
        wanted = max(radius.min_ready_nodes_percent, settings.min_ready_nodes_percent)
        if ratio < wanted:
            return Decision(Verdict.REFUSE, Guard.NODES_READY,
                            f"only {ratio:.0f}% of nodes are Ready (need {wanted}%)")
    if planned.dangerous:
        if approval is None or approval.decision is None:
            return Decision(Verdict.NEEDS_APPROVAL, Guard.APPROVAL, f"needs approval: {planned.summary}")
        if approval.decision is ApprovalDecision.REJECTED:
            return Decision(Verdict.REFUSE, Guard.APPROVAL, f"rejected by {approval.decided_by}")
    if planned.mutating and (settings.dry_run or runbook.safety.dry_run or run.dry_run):
        return Decision(Verdict.DRY_RUN, Guard.DRY_RUN, "dry run: server-side dryRun=All, nothing changes")
    return ALLOW
