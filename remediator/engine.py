"""Run one runbook for one alert: target -> guards -> preconditions -> steps -> verify -> outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from remediator.actions.base import ActionContext, HttpCaller, PromQuery
from remediator.cluster import Cluster, ClusterError, WorkloadKind
from remediator.durations import format_duration
from remediator.events import EventKind, EventSink, Metrics, NullMetrics, discard_event
from remediator.executor import Deps, Flow, StepRunner
from remediator.guards import Decision, Guard, Verdict, admit_run
from remediator.prometheus import PrometheusError
from remediator.records import (
    NEEDS_HUMAN,
    ApprovalDecision,
    AuditKind,
    NewRun,
    Outcome,
    Phase,
    RunRecord,
    RunStatus,
    StepOutcome,
)
from remediator.runbook import Runbook
from remediator.settings import EngineSettings
from remediator.store import ACTIVE, RunStore
from remediator.target import TARGET_RULES, Target, template_context
from remediator.templating import TemplateRefused, render_name, render_promql


@dataclass(frozen=True)
class Alert:
    """The alert (or incident episode) a run is for."""

    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    fingerprint: str = ""
    starts_at: str = ""


def idempotency_key(runbook_id: str, alert: Alert) -> str:
    """One run per runbook per alert episode, (fingerprint, startsAt) being the episode's identity."""
    return f"{runbook_id}/{alert.fingerprint}/{alert.starts_at}"


def utcnow() -> datetime:
    return datetime.now(UTC)


async def _no_http(method: str, url: str, body: dict[str, str] | None, timeout_seconds: float) -> int:
    raise ClusterError("no HTTP caller configured for the http action")


class Engine:
    """Runs runbooks. All state is in the store, so any replica may start, resume, abort or recover."""

    def __init__(self, *, store: RunStore, cluster: Cluster, prometheus: PromQuery, runbooks: Iterable[Runbook],
                 settings: EngineSettings | None = None, clock: Callable[[], datetime] = utcnow,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, events: EventSink = discard_event,
                 metrics: Metrics | None = None, http: HttpCaller = _no_http) -> None:
        self.runbooks: Mapping[str, Runbook] = {r.id: r for r in runbooks}
        self.d = Deps(store, cluster, prometheus, settings or EngineSettings(), clock, sleep, events,
                      metrics or NullMetrics(), http)
        self.steps = StepRunner(self.d)

    def matching(self, labels: Mapping[str, str]) -> list[Runbook]:
        """Runbooks whose matchers all match the labels, in id order."""
        return [r for _, r in sorted(self.runbooks.items()) if r.matches(dict(labels))]

    async def start(self, runbook: Runbook, alert: Alert, *, incident_id: str | None = None,
                    key: str | None = None, triggered_by: str | None = None, dry_run: bool = False) -> RunRecord:
        """Start (or return the existing) run for this alert episode; returns when it finished or paused."""
        store, now = self.d.store, self.d.clock()
        run, created = await store.create_run(NewRun(
            key or idempotency_key(runbook.id, alert), runbook.id, incident_id,
            triggered_by or self.d.settings.triggered_by, dict(alert.labels), dict(alert.annotations),
            dry_run or self.d.settings.dry_run or runbook.safety.dry_run, now))
        if not created:
            return run
        await self.steps.audit(run, AuditKind.RUN_CREATED, f"run of {runbook.id} for {alert.labels}")
        try:
            target = await self.resolve_target(runbook, alert.labels, alert.annotations)
        except TemplateRefused as exc:
            return await self._finish(run, Outcome.REFUSED, str(exc), guard=Guard.TEMPLATE)
        except ClusterError as exc:
            return await self._finish(run, Outcome.ESCALATED, f"cannot resolve the target: {exc}")
        try:
            checks = self._render_checks(runbook, alert, target)
        except TemplateRefused as exc:  # before anything acted: nothing to undo, nothing left claimed
            return await self._finish(run, Outcome.REFUSED, str(exc), guard=Guard.TEMPLATE)
        decision = await admit_run(runbook, run, target.key(), target.namespace, store, self.d.settings, now)
        if decision.refused:
            return await self._finish(run, Outcome.REFUSED, decision.reason, guard=decision.guard)
        failed = await self._preconditions(runbook, checks)
        if failed is not None:
            return await self._finish(run, *failed)
        if not await store.claim_target(run.id, target.key(), target.as_context(), self.d.clock(),
                                        cooldown=runbook.safety.cooldown,
                                        max_runs_per_hour=runbook.safety.max_runs_per_hour):
            refusal = await self._claim_refusal(runbook, run, target)
            return await self._finish(run, Outcome.REFUSED, refusal.reason, guard=refusal.guard)
        run = await self._get(run.id)
        hold = self.d.clock() + runbook.safety.hold_escalation_for
        await self.steps.emit(run, EventKind.STARTED, f"running {runbook.id} on {target.key()}"
                              + (" (dry run)" if run.dry_run else ""), hold_escalation_until=hold)
        return await self._drive(run, runbook)

    async def resolve_target(self, runbook: Runbook, labels: Mapping[str, str],
                             annotations: Mapping[str, str]) -> Target:
        """Render the target in the sandbox, check name rules, and look up the pod's owner if asked."""
        context = template_context(labels, annotations)
        values = {name: render_name(text, context, f"target.{name}", TARGET_RULES[name])
                  for name in TARGET_RULES if (text := getattr(runbook.target, name)) is not None}
        target = Target(**values)
        if runbook.target.workload_from_pod and target.namespace and target.pod:
            owner = await self.d.cluster.owner_workload(target.namespace, target.pod)
            if owner is None:
                raise ClusterError(f"pod {target.namespace}/{target.pod} has no Deployment/StatefulSet owner")
            kind, name = owner
            field_name = "deployment" if kind is WorkloadKind.DEPLOYMENT else "statefulset"
            target = Target(**{**values, field_name: name})
        return target

    @staticmethod
    def _render_checks(runbook: Runbook, alert: Alert, target: Target) -> list[str]:
        """Render the precondition queries (returned) and the verify query (only checked) before the run
        claims its target or acts: a label the templates need but the alert lacks refuses the run while
        nothing has changed, instead of failing after the steps applied."""
        context = template_context(alert.labels, alert.annotations, target)
        queries = [render_promql(condition.query, context, f"preconditions[{i}]")
                   for i, condition in enumerate(runbook.preconditions)]
        if runbook.verify is not None:
            render_promql(runbook.verify.query, context, "verify.query")
        return queries

    async def _preconditions(self, runbook: Runbook, queries: list[str]) -> tuple[Outcome, str] | None:
        for condition, query in zip(runbook.preconditions, queries, strict=True):
            try:
                if not await self.d.prometheus.holds(query):
                    return Outcome.SKIPPED, f"precondition does not hold: {condition.description or query}"
            except PrometheusError as exc:
                return Outcome.ESCALATED, f"cannot evaluate precondition {query}: {exc}"
        return None

    async def _claim_refusal(self, runbook: Runbook, run: RunRecord, target: Target) -> Decision:
        """Why the atomic claim said no: the guards looked before other runs (or replicas) started on the
        target, so ask them again now; if they still allow it, another run holds the target."""
        decision = await admit_run(runbook, run, target.key(), target.namespace, self.d.store, self.d.settings,
                                   self.d.clock())
        if decision.refused:
            return decision
        return Decision(Verdict.REFUSE, Guard.CONCURRENCY, f"another run is acting on {target.key()}")

    def _keepalive(self, run_id: str) -> Callable[[float], Awaitable[None]]:
        """The sleep of a run's verify loop and actions: it heartbeats the run (at most every
        settings.heartbeat_seconds, sleeping in slices no longer than that), so recover() never takes a long
        verify or wait for an interrupted run, while a run whose process stopped stops heartbeating."""
        every = self.d.settings.heartbeat_seconds
        last: datetime | None = None

        async def sleep(seconds: float) -> None:
            nonlocal last
            left = seconds
            while True:
                now = self.d.clock()
                if last is None or (now - last).total_seconds() >= every:
                    await self.d.store.heartbeat(run_id, now)
                    last = now
                piece = min(left, every)
                await self.d.sleep(piece)
                left -= piece
                if left <= 0:
                    return

        return sleep

    def _context(self, run: RunRecord) -> ActionContext:
        target = Target(**run.target)

        async def post(message: str) -> None:
            await self.steps.emit(run, EventKind.MESSAGE, message)

        return ActionContext(self.d.cluster, self.d.prometheus, target,
                             template_context(run.labels, run.annotations, target), self.d.clock,
                             self._keepalive(run.id), post, self.d.http, self.d.settings.http_allowlist,
                             self.d.settings.namespace_problem, run_id=run.id)

    async def _drive(self, run: RunRecord, runbook: Runbook) -> RunRecord:
        ctx = self._context(run)
        for index in range(run.next_step, len(runbook.steps)):
            result = await self.steps.run_step(run, runbook, Phase.STEPS, index, runbook.steps[index], ctx)
            if result.flow is Flow.PAUSED:
                paused = await self.d.store.transition(run.id, (RunStatus.RUNNING,), at=self.d.clock(),
                                                       status=RunStatus.AWAITING_APPROVAL, next_step=index)
                return paused or await self._get(run.id)
            if result.flow is Flow.STOP:
                # the step already audited and counted its refusal: no guard here
                return await self._end_badly(run, runbook, result.outcome or Outcome.ESCALATED, result.reason,
                                             None)
            moved = await self.d.store.transition(run.id, (RunStatus.RUNNING,), at=self.d.clock(),
                                                  status=RunStatus.RUNNING, next_step=index + 1)
            if moved is None:  # aborted meanwhile
                return await self._get(run.id)
            run = moved
        if run.dry_run:
            return await self._finish(run, Outcome.DRY_RUN, "dry run complete; nothing was changed")
        if runbook.verify is None:
            return await self._finish(run, Outcome.COMPLETED, "steps applied; the runbook has no verify query")
        return await self._verify(run, runbook, ctx)

    async def _verify(self, run: RunRecord, runbook: Runbook, ctx: ActionContext) -> RunRecord:
        """Poll the verify query until it holds or `within` passes. Only Prometheus answering "does not hold"
        at the end is a failed fix (rollback, circuit breaker); Prometheus unable to answer then means the
        outcome is unknown: escalate to a human, undo nothing, count nothing against the runbook."""
        assert runbook.verify is not None
        try:
            query = render_promql(runbook.verify.query, ctx.template_context, "verify.query")
        except TemplateRefused as exc:  # start() rendered it already; a run resumed after an upgrade may not
            return await self._finish(run, Outcome.ESCALATED, f"cannot verify: {exc}")
        started = self.d.clock()
        deadline = started + runbook.verify.within
        within = format_duration(runbook.verify.within)
        await self.steps.emit(run, EventKind.VERIFYING, f"verifying (up to {within}): {query}")
        unknown = ""
        while True:
            try:
                if await self.d.prometheus.holds(query):
                    seconds = (self.d.clock() - started).total_seconds()
                    self.d.metrics.verified_after(runbook.id, seconds)
                    return await self._finish(run, Outcome.VERIFIED, f"verified after {seconds:.0f}s: {query}")
                unknown = ""
            except PrometheusError as exc:
                unknown = str(exc)
            if self.d.clock() >= deadline:
                break
            current = await self._get(run.id)
            if current.status is not RunStatus.RUNNING:
                return current
            await ctx.sleep(runbook.verify.interval.total_seconds())
        if unknown:
            return await self._finish(run, Outcome.ESCALATED, f"verification unknown: cannot evaluate {query} "
                                      f"({unknown}); not rolled back")
        reason = f"verification did not hold within {within}: {query}"
        return await self._end_badly(run, runbook, Outcome.FAILED, reason, None)

    async def _end_badly(self, run: RunRecord, runbook: Runbook, outcome: Outcome, reason: str,
                         guard: Guard | None) -> RunRecord:
        """Roll back (when something was applied and rollback steps exist), then finish."""
        steps = await self.d.store.list_steps(run.id)
        applied = any(s.outcome is StepOutcome.APPLIED and not s.dry_run and s.phase is Phase.STEPS for s in steps)
        if applied and runbook.on_failure.rollback:
            ctx = self._context(run)
            for index, step in enumerate(runbook.on_failure.rollback):
                result = await self.steps.run_step(run, runbook, Phase.ROLLBACK, index, step, ctx)
                if result.flow is not Flow.CONTINUE:
                    reason += f"; rollback stopped at step {index}: {result.reason}"
                    break
            else:
                reason += "; rolled back"
        return await self._finish(run, outcome, reason, guard=guard)

    async def _finish(self, run: RunRecord, outcome: Outcome, reason: str, *, guard: Guard | None = None,
                      expected: tuple[RunStatus, ...] = (RunStatus.PENDING, *ACTIVE),
                      page: bool | None = None) -> RunRecord:
        runbook = self.runbooks.get(run.runbook_id)
        done = await self.d.store.transition(run.id, expected, at=self.d.clock(), status=RunStatus.FINISHED,
                                             outcome=outcome, reason=reason)
        if done is None:
            return await self._get(run.id)
        if guard is not None and outcome is Outcome.REFUSED and guard is not Guard.NONE:
            await self.steps.audit(done, AuditKind.GUARD_REFUSED, reason, guard=str(guard))
            self.d.metrics.guard_refused(str(guard))
        await self.steps.audit(done, AuditKind.RUN_FINISHED, reason, outcome=str(outcome))
        self.d.metrics.run_finished(run.runbook_id, outcome)
        if page is None:
            page = outcome in NEEDS_HUMAN and (runbook is None or runbook.on_failure.escalate)
        words = {Outcome.VERIFIED: "verified", Outcome.FAILED: "failed"}.get(outcome, str(outcome))
        await self.steps.emit(done, EventKind.FINISHED, f"{words}: {reason}" + (", paging" if page else ""),
                              outcome=outcome, page=page)
        return done

    async def _get(self, run_id: str) -> RunRecord:
        run = await self.d.store.get_run(run_id)
        if run is None:
            raise KeyError(f"no run {run_id}")
        return run

    async def resume(self, run_id: str) -> RunRecord:
        """Continue a run awaiting approval: approved -> next steps; rejected -> aborted; expired -> on_failure;
        still pending -> unchanged. Safe to call from any replica, any number of times."""
        run = await self._get(run_id)
        runbook = self.runbooks.get(run.runbook_id)
        if run.status is not RunStatus.AWAITING_APPROVAL:
            return run
        if runbook is None:
            return await self._finish(run, Outcome.ESCALATED, f"runbook {run.runbook_id} is no longer loaded")
        approval = await self.d.store.get_approval(run.id, run.next_step)
        expired = approval is not None and approval.decision is None and self.d.clock() >= approval.expires_at
        if approval is not None and approval.decision is None and not expired:
            return run
        claimed = await self.d.store.transition(run.id, (RunStatus.AWAITING_APPROVAL,), at=self.d.clock(),
                                                status=RunStatus.RUNNING)
        if claimed is None:
            return await self._get(run_id)
        return await self._drive(claimed, runbook)

    async def decide(self, run_id: str, approved: bool, by: str) -> RunRecord:
        """Record an approver's decision for the step the run waits at, then resume it."""
        run = await self._get(run_id)
        if run.status is not RunStatus.AWAITING_APPROVAL:
            return run
        decision = ApprovalDecision.APPROVED if approved else ApprovalDecision.REJECTED
        record = await self.d.store.decide_approval(run.id, run.next_step, decision, by, self.d.clock())
        await self.steps.audit(run, AuditKind.APPROVAL_DECIDED, f"{record.decision} by {record.decided_by}",
                               actor=by, step=run.next_step)
        return await self.resume(run_id)

    async def cancel(self, run_id: str, reason: str) -> RunRecord:
        """The incident no longer needs this run (it was resolved): a run not yet acting or waiting for approval
        ends ABORTED without rollback (nothing after its last applied step is undone) and without paging."""
        run = await self._get(run_id)
        if run.status not in (RunStatus.PENDING, RunStatus.AWAITING_APPROVAL):
            return run
        return await self._finish(run, Outcome.ABORTED, f"cancelled: {reason}",
                                  expected=(RunStatus.PENDING, RunStatus.AWAITING_APPROVAL), page=False)

    async def abort(self, run_id: str, by: str) -> RunRecord:
        """Abort a pending, running or waiting run. A running step finishes; nothing after it starts."""
        run = await self._get(run_id)
        runbook = self.runbooks.get(run.runbook_id)
        if run.status is RunStatus.FINISHED:
            return run
        await self.steps.audit(run, AuditKind.RUN_FINISHED, f"abort requested by {by}", actor=by)
        if runbook is not None and run.status is RunStatus.AWAITING_APPROVAL:
            return await self._end_badly(run, runbook, Outcome.ABORTED, f"aborted by {by}", None)
        return await self._finish(run, Outcome.ABORTED, f"aborted by {by}")

    async def tick(self) -> list[RunRecord]:
        """Periodic work: time out approvals, then recover interrupted runs. Returns the runs it touched."""
        touched = []
        for run in await self.d.store.runs_with_status((RunStatus.AWAITING_APPROVAL,)):
            after = await self.resume(run.id)
            if after.status is not RunStatus.AWAITING_APPROVAL:
                touched.append(after)
        return touched + await self.recover()

    async def recover(self) -> list[RunRecord]:
        """Runs left RUNNING/PENDING by a dead process are never re-executed blindly: the step in flight has
        an unknown effect, so the run ends ESCALATED with what is known, and a human takes over."""
        stale_before = self.d.clock() - timedelta(seconds=self.d.settings.stale_run_after_seconds)
        recovered = []
        for run in await self.d.store.runs_with_status((RunStatus.PENDING, RunStatus.RUNNING)):
            if run.updated_at > stale_before:
                continue
            steps = await self.d.store.list_steps(run.id)
            in_flight = [s for s in steps if s.outcome is StepOutcome.RUNNING]
            where = (f"during step {in_flight[0].index} ({in_flight[0].summary}): its effect is unknown"
                     if in_flight else f"after {sum(1 for s in steps if s.finished_at)} finished step(s)")
            recovered.append(await self._finish(run, Outcome.ESCALATED, f"interrupted {where}; not re-executed",
                                                expected=(RunStatus.PENDING, RunStatus.RUNNING)))
        return recovered
