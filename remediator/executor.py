"""Run one step of a run: plan it, pass it through the guards, apply it, and record every attempt."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from remediator.actions import action_name, plan_step
from remediator.actions.base import ActionContext, HttpCaller, Planned, PromQuery, StepBase, StepFailed, StepRefused
from remediator.cluster import Cluster, ClusterError
from remediator.events import EventKind, EventSink, Metrics, RunEvent
from remediator.guards import Decision, Guard, Verdict, blast_limit, blast_refusal, check_action
from remediator.prometheus import PrometheusError
from remediator.records import (
    ApprovalDecision,
    ApprovalRecord,
    AuditEntry,
    AuditKind,
    Outcome,
    Phase,
    RunRecord,
    StepOutcome,
    StepRecord,
)
from remediator.runbook import Runbook
from remediator.settings import EngineSettings
from remediator.store import RunStore
from remediator.templating import TemplateRefused


@dataclass(frozen=True)
class Deps:
    """Everything injected into the engine: the seams tests and the service replace."""

    store: RunStore
    cluster: Cluster
    prometheus: PromQuery
    settings: EngineSettings
    clock: Callable[[], datetime]
    sleep: Callable[[float], Awaitable[None]]
    events: EventSink
    metrics: Metrics
    http: HttpCaller


class Flow(Enum):
    CONTINUE = "continue"
    PAUSED = "paused"
    STOP = "stop"


@dataclass(frozen=True)
class StepResult:
    """CONTINUE to the next step, PAUSED for approval, or STOP the run with an outcome."""

    flow: Flow
    outcome: Outcome | None = None
    reason: str = ""
    guard: Guard | None = None


CONTINUE = StepResult(Flow.CONTINUE)
PAUSED = StepResult(Flow.PAUSED)


class StepRunner:
    """Executes steps with the safety envelope; one instance per engine."""

    def __init__(self, deps: Deps) -> None:
        self.d = deps

    async def emit(self, run: RunRecord, kind: EventKind, message: str, **extra: object) -> None:
        await self.d.events(RunEvent(run.id, run.runbook_id, run.incident_id, kind, message, self.d.clock(),
                                     **extra))  # type: ignore[arg-type]

    async def audit(self, run: RunRecord, kind: AuditKind, message: str, *, dry_run: bool = False,
                    actor: str | None = None, **details: object) -> None:
        await self.d.store.add_audit(AuditEntry(self.d.clock(), kind, run.id, run.runbook_id,
                                                actor or run.triggered_by, message, dry_run or run.dry_run,
                                                run.incident_id, dict(details)))

    async def run_step(self, run: RunRecord, runbook: Runbook, phase: Phase, index: int, step: StepBase,
                       ctx: ActionContext) -> StepResult:
        ctx.field = f"{phase}[{index}]"
        name = action_name(step)
        record = StepRecord(run.id, phase, index, name, step.description or name, self.d.clock(), run.dry_run,
                            StepOutcome.RUNNING, params=step.model_dump(mode="json", exclude_none=True))
        try:
            planned = await plan_step(step, ctx)
        except TemplateRefused as exc:
            return await self._refused(run, record, Decision(Verdict.REFUSE, Guard.TEMPLATE, str(exc)),
                                       Outcome.REFUSED)
        except StepRefused as exc:
            outcome = Outcome.ESCALATED if exc.escalate else Outcome.SKIPPED
            return await self._refused(run, record, Decision(Verdict.REFUSE, Guard.ACTION, exc.reason), outcome)
        except ClusterError as exc:
            return await self._failed(run, record, f"planning failed: {exc}")
        record = replace(record, summary=planned.summary, params={**record.params, **planned.details})
        decision = await self._decide(run, runbook, phase, index, planned, ctx)
        if decision.verdict is Verdict.REFUSE:
            rejected = decision.guard is Guard.APPROVAL
            return await self._refused(run, record, decision, Outcome.ABORTED if rejected else Outcome.REFUSED)
        if decision.verdict is Verdict.NEEDS_APPROVAL:
            return await self._await_approval(run, runbook, record, planned)
        return await self._apply(run, runbook, record, planned, dry_run=decision.verdict is Verdict.DRY_RUN)

    async def _decide(self, run: RunRecord, runbook: Runbook, phase: Phase, index: int, planned: Planned,
                      ctx: ActionContext) -> Decision:
        try:
            nodes = await self.d.cluster.list_nodes() if planned.touches_nodes else None
        except ClusterError as exc:
            return Decision(Verdict.REFUSE, Guard.NODES_READY, f"cannot list nodes: {exc}")
        approval = await self.d.store.get_approval(run.id, index) if phase is Phase.STEPS else None
        decision = await check_action(planned, runbook=runbook, run=run, namespace=ctx.target.namespace,
                                      store=self.d.store, settings=self.d.settings, now=self.d.clock(),
                                      nodes=nodes, approval=approval)
        if decision.verdict is Verdict.NEEDS_APPROVAL and phase is Phase.ROLLBACK:
            return Decision(Verdict.REFUSE, Guard.APPROVAL, "rollback steps cannot wait for approval")
        return decision

    async def _await_approval(self, run: RunRecord, runbook: Runbook, record: StepRecord,
                              planned: Planned) -> StepResult:
        now = self.d.clock()
        existing = await self.d.store.get_approval(run.id, record.index)
        if existing is not None and existing.decision is None and now >= existing.expires_at:
            await self.d.store.save_step(replace(record, outcome=StepOutcome.FAILED, finished_at=now,
                                                 guard=Guard.APPROVAL, reason="approval timed out"))
            return StepResult(Flow.STOP, Outcome.ESCALATED, f"approval for step {record.index} timed out "
                              f"({planned.summary})", Guard.APPROVAL)
        if existing is None:
            timeout = planned.approval_timeout or runbook.safety.approval_timeout
            await self.d.store.request_approval(ApprovalRecord(run.id, record.index, planned.summary, now,
                                                               now + timeout))
            await self.audit(run, AuditKind.APPROVAL_REQUESTED, planned.summary, step=record.index)
            await self.emit(run, EventKind.AWAITING_APPROVAL, f"approval needed: {planned.summary}",
                            step_index=record.index)
        await self.d.store.save_step(replace(record, outcome=StepOutcome.AWAITING_APPROVAL, guard=Guard.APPROVAL,
                                             reason="awaiting approval"))
        return PAUSED

    async def _apply(self, run: RunRecord, runbook: Runbook, record: StepRecord, planned: Planned, *,
                     dry_run: bool) -> StepResult:
        dry_run = dry_run or run.dry_run
        record = replace(record, dry_run=dry_run, pods_deleted=planned.pods_deleted,
                         nodes_cordoned=planned.nodes_cordoned)
        approval = await self.d.store.get_approval(run.id, record.index) if planned.dangerous else None
        if planned.apply is None:
            await self._finish_step(run, record, StepOutcome.NOOP, planned.summary, approval)
            return CONTINUE
        # in flight: a crash now leaves a RUNNING step behind (and its budget spent)
        refusal = await self._save_in_flight(runbook, record)
        if refusal is not None:
            return await self._refused(run, record, refusal, Outcome.REFUSED)
        try:
            change = await planned.apply(dry_run)
        except (StepFailed, ClusterError, PrometheusError) as exc:
            return await self._failed(run, record, str(exc))
        await self._finish_step(run, record, StepOutcome.APPLIED, change.summary, approval)
        prefix = "[dry run] " if dry_run else ""
        await self.emit(run, EventKind.PROGRESS, f"{prefix}{planned.summary}", step_index=record.index)
        return CONTINUE

    async def _save_in_flight(self, runbook: Runbook, record: StepRecord) -> Decision | None:
        """Save the step as RUNNING. A step that deletes pods or cordons nodes reserves its blast radius in
        the same atomic step (the guards' earlier look may be stale: other runs act concurrently); returns
        the refusal when the budget is spent, and then nothing was saved or done."""
        if record.dry_run or not (record.pods_deleted or record.nodes_cordoned):
            await self.d.store.save_step(record)
            return None
        window = runbook.safety.blast_radius.window
        limit = blast_limit(runbook, self.d.settings)
        saved, done = await self.d.store.reserve_step(record, self.d.clock() - window, limit)
        if saved:
            return None
        refusal = blast_refusal(record.pods_deleted, record.nodes_cordoned, done, limit, window)
        return refusal or Decision(Verdict.REFUSE, Guard.BLAST_RADIUS, "blast radius exhausted")

    async def _finish_step(self, run: RunRecord, record: StepRecord, outcome: StepOutcome, response: str,
                           approval: ApprovalRecord | None) -> None:
        approved = approval is not None and approval.decision is ApprovalDecision.APPROVED
        reason = f"approved by {approval.decided_by}" if approved and approval is not None else ""
        await self.d.store.save_step(replace(record, outcome=outcome, response=response,
                                             finished_at=self.d.clock(), reason=reason))
        await self.audit(run, AuditKind.STEP_APPLIED, f"{record.action}: {response}", dry_run=record.dry_run,
                         step=record.index, phase=str(record.phase), params=record.params, outcome=str(outcome))
        self.d.metrics.action_attempted(record.action, outcome)

    async def _refused(self, run: RunRecord, record: StepRecord, decision: Decision,
                       outcome: Outcome) -> StepResult:
        await self.d.store.save_step(replace(record, outcome=StepOutcome.REFUSED, finished_at=self.d.clock(),
                                             guard=decision.guard, reason=decision.reason))
        await self.audit(run, AuditKind.GUARD_REFUSED, decision.reason, step=record.index,
                         guard=str(decision.guard), action=record.action)
        self.d.metrics.guard_refused(str(decision.guard))
        self.d.metrics.action_attempted(record.action, StepOutcome.REFUSED)
        return StepResult(Flow.STOP, outcome, decision.reason, decision.guard)

    async def _failed(self, run: RunRecord, record: StepRecord, reason: str) -> StepResult:
        await self.d.store.save_step(replace(record, outcome=StepOutcome.FAILED, finished_at=self.d.clock(),
                                             reason=reason))
        await self.audit(run, AuditKind.STEP_FAILED, reason, step=record.index, action=record.action)
        self.d.metrics.action_attempted(record.action, StepOutcome.FAILED)
        return StepResult(Flow.STOP, Outcome.ESCALATED, f"{record.action} failed: {reason}")
