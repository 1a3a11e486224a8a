"""The store protocol the engine writes through (webhook implements it in SQL), and an in-memory store."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from remediator.records import (
    ApprovalDecision,
    ApprovalRecord,
    AuditEntry,
    Effects,
    NewRun,
    Outcome,
    Phase,
    RunRecord,
    RunStatus,
    StepOutcome,
    StepRecord,
)

ACTIVE = (RunStatus.RUNNING, RunStatus.AWAITING_APPROVAL)
#: Step outcomes that consume blast-radius budget: applied, or in flight (a crash leaves its effect unknown).
BUDGETED = (StepOutcome.APPLIED, StepOutcome.RUNNING)
HOUR = timedelta(hours=1)


def counts_toward_budget(step: StepRecord, since: datetime) -> bool:
    """Applied (finished since `since`) or in flight (started since `since`), and not a dry run: refused and
    failed steps give their reservation back."""
    if step.dry_run or step.outcome not in BUDGETED:
        return False
    at = step.finished_at if step.outcome is StepOutcome.APPLIED else step.started_at
    return at is not None and at >= since


def fits_budget(done: Effects, step: StepRecord, limit: Effects) -> bool:
    """Whether `step`'s planned effects fit on top of `done` under `limit`."""
    return (done.pods_deleted + step.pods_deleted <= limit.pods_deleted
            and done.nodes_cordoned + step.nodes_cordoned <= limit.nodes_cordoned)


class RunStore(Protocol):
    """Durable state of remediation. Every method is one transaction. Implementations must make
    create_run and claim_target atomic across replicas (UNIQUE idempotency_key; a partial unique
    index on target_key WHERE status IN ('running', 'awaiting_approval'))."""

    async def create_run(self, new: NewRun) -> tuple[RunRecord, bool]:
        """Insert a PENDING run, or return the existing run with that idempotency key (created=False)."""
        ...

    async def get_run(self, run_id: str) -> RunRecord | None: ...

    async def claim_target(self, run_id: str, target_key: str, target: dict[str, str], at: datetime, *,
                           cooldown: timedelta | None = None, max_runs_per_hour: int | None = None) -> bool:
        """PENDING -> RUNNING (set target_key, target, started_at) iff no other run holds target_key
        in RUNNING/AWAITING_APPROVAL, none started on it within `cooldown` before `at`, and fewer than
        `max_runs_per_hour` started on it in the hour before `at`. The checks and the claim are one atomic
        step across runs and replicas (the guards' earlier look may be stale). False: the run is left PENDING."""
        ...

    async def transition(self, run_id: str, expected: tuple[RunStatus, ...], *, at: datetime,
                         status: RunStatus, outcome: Outcome | None = None, reason: str | None = None,
                         next_step: int | None = None) -> RunRecord | None:
        """Compare-and-set: iff the run's status is in expected, set status (and the given fields, and
        updated_at; FINISHED also sets finished_at) and return the new record; else None (another
        replica or an abort got there first)."""
        ...

    async def save_step(self, step: StepRecord) -> None:
        """Insert or replace the step keyed by (run_id, phase, index)."""
        ...

    async def reserve_step(self, step: StepRecord, since: datetime, limit: Effects) -> tuple[bool, Effects]:
        """Save `step` (in flight, with its planned pods_deleted/nodes_cordoned) iff the effects counted by
        effects_since(since), other than this step's own, plus the step's stay within `limit`. The count and
        the save are one atomic step across runs and replicas, so parallel runs cannot both pass a budget of
        one. Returns (saved, the effects counted)."""
        ...

    async def heartbeat(self, run_id: str, at: datetime) -> bool:
        """Set updated_at iff the run is RUNNING (a long verify or wait is alive, recover() must not take it);
        False when it is not running any more (finished, aborted, recovered)."""
        ...

    async def list_steps(self, run_id: str) -> list[StepRecord]: ...

    async def add_audit(self, entry: AuditEntry) -> None: ...

    async def runs_for_target_since(self, target_key: str, since: datetime) -> list[RunRecord]:
        """Runs on target_key that started (claimed the target) at or after since."""
        ...

    async def failed_verifications_since(self, runbook_id: str, since: datetime) -> int:
        """Runs of runbook_id finished with outcome FAILED at or after since."""
        ...

    async def effects_since(self, since: datetime) -> Effects:
        """Sum of pods_deleted / nodes_cordoned of not dry-run steps APPLIED (finished at or after since) or
        RUNNING (in flight, started at or after since): the blast-radius budget already spent or reserved."""
        ...

    async def runs_with_status(self, statuses: tuple[RunStatus, ...]) -> list[RunRecord]: ...

    async def request_approval(self, approval: ApprovalRecord) -> ApprovalRecord:
        """Insert the request, or return the existing one for (run_id, step_index)."""
        ...

    async def get_approval(self, run_id: str, step_index: int) -> ApprovalRecord | None: ...

    async def decide_approval(self, run_id: str, step_index: int, decision: ApprovalDecision, by: str,
                              at: datetime) -> ApprovalRecord:
        """Record the decision unless one exists (the first decision wins); returns the stored record."""
        ...


class MemoryStore:
    """RunStore in process memory: for the CLI, runbook tests and unit tests (not for the service)."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.runs: dict[str, RunRecord] = {}
        self.steps: dict[tuple[str, Phase, int], StepRecord] = {}
        self.audit: list[AuditEntry] = []
        self.approvals: dict[tuple[str, int], ApprovalRecord] = {}

    async def create_run(self, new: NewRun) -> tuple[RunRecord, bool]:
        for run in self.runs.values():
            if run.idempotency_key == new.idempotency_key:
                return run, False
        run = RunRecord(
            id=f"run-{next(self._ids)}", idempotency_key=new.idempotency_key, runbook_id=new.runbook_id,
            incident_id=new.incident_id, triggered_by=new.triggered_by, labels=dict(new.labels),
            annotations=dict(new.annotations), dry_run=new.dry_run, status=RunStatus.PENDING,
            created_at=new.created_at, updated_at=new.created_at)
        self.runs[run.id] = run
        return run, True

    async def get_run(self, run_id: str) -> RunRecord | None:
        return self.runs.get(run_id)

    async def claim_target(self, run_id: str, target_key: str, target: dict[str, str], at: datetime, *,
                           cooldown: timedelta | None = None, max_runs_per_hour: int | None = None) -> bool:
        others = [r for r in self.runs.values() if r.target_key == target_key and r.id != run_id]
        started = [r.started_at for r in others if r.started_at is not None]
        if any(r.status in ACTIVE for r in others):
            return False
        if cooldown and any(s > at - cooldown for s in started):
            return False
        if max_runs_per_hour is not None and sum(1 for s in started if s >= at - HOUR) >= max_runs_per_hour:
            return False
        self.runs[run_id] = replace(self.runs[run_id], status=RunStatus.RUNNING, target_key=target_key,
                                    target=dict(target), started_at=at, updated_at=at)
        return True

    async def transition(self, run_id: str, expected: tuple[RunStatus, ...], *, at: datetime,
                         status: RunStatus, outcome: Outcome | None = None, reason: str | None = None,
                         next_step: int | None = None) -> RunRecord | None:
        run = self.runs[run_id]
        if run.status not in expected:
            return None
        run = replace(
            run, updated_at=at, status=status, outcome=outcome or run.outcome,
            reason=run.reason if reason is None else reason,
            next_step=run.next_step if next_step is None else next_step,
            finished_at=at if status is RunStatus.FINISHED else run.finished_at)
        self.runs[run_id] = run
        return run

    async def save_step(self, step: StepRecord) -> None:
        self.steps[(step.run_id, step.phase, step.index)] = step

    async def reserve_step(self, step: StepRecord, since: datetime, limit: Effects) -> tuple[bool, Effects]:
        # no await between the count and the save: atomic within the event loop, the only writer here
        key = (step.run_id, step.phase, step.index)
        done = self._effects(since, exclude=key)
        if not fits_budget(done, step, limit):
            return False, done
        self.steps[key] = step
        return True, done

    async def heartbeat(self, run_id: str, at: datetime) -> bool:
        run = self.runs.get(run_id)
        if run is None or run.status is not RunStatus.RUNNING:
            return False
        self.runs[run_id] = replace(run, updated_at=at)
        return True

    async def list_steps(self, run_id: str) -> list[StepRecord]:
        return [s for (rid, _, _), s in sorted(self.steps.items(), key=lambda kv: (kv[0][1] != Phase.STEPS,
                                                                                     kv[0][2]))
                if rid == run_id]

    async def add_audit(self, entry: AuditEntry) -> None:
        self.audit.append(entry)

    async def runs_for_target_since(self, target_key: str, since: datetime) -> list[RunRecord]:
        return [r for r in self.runs.values()
                if r.target_key == target_key and r.started_at is not None and r.started_at >= since]

    async def failed_verifications_since(self, runbook_id: str, since: datetime) -> int:
        return sum(1 for r in self.runs.values() if r.runbook_id == runbook_id and r.outcome is Outcome.FAILED
                   and r.finished_at is not None and r.finished_at >= since)

    async def effects_since(self, since: datetime) -> Effects:
        return self._effects(since)

    def _effects(self, since: datetime, exclude: tuple[str, Phase, int] | None = None) -> Effects:
        spent = [s for k, s in self.steps.items() if k != exclude and counts_toward_budget(s, since)]
        return Effects(sum(s.pods_deleted for s in spent), sum(s.nodes_cordoned for s in spent))

    async def runs_with_status(self, statuses: tuple[RunStatus, ...]) -> list[RunRecord]:
        return [r for r in self.runs.values() if r.status in statuses]

    async def request_approval(self, approval: ApprovalRecord) -> ApprovalRecord:
        return self.approvals.setdefault((approval.run_id, approval.step_index), approval)

    async def get_approval(self, run_id: str, step_index: int) -> ApprovalRecord | None:
        return self.approvals.get((run_id, step_index))

    async def decide_approval(self, run_id: str, step_index: int, decision: ApprovalDecision, by: str,
                              at: datetime) -> ApprovalRecord:
        current = self.approvals[(run_id, step_index)]
        if current.decision is None:
            current = replace(current, decision=decision, decided_by=by, decided_at=at)
            self.approvals[(run_id, step_index)] = current
        return current
