"""The store protocol the engine writes through (webhook implements it in SQL), and an in-memory store."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime
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


class RunStore(Protocol):
    """Durable state of remediation. Every method is one transaction. Implementations must make
    create_run and claim_target atomic across replicas (UNIQUE idempotency_key; a partial unique
    index on target_key WHERE status IN ('running', 'awaiting_approval'))."""

    async def create_run(self, new: NewRun) -> tuple[RunRecord, bool]:
        """Insert a PENDING run, or return the existing run with that idempotency key (created=False)."""
        ...

    async def get_run(self, run_id: str) -> RunRecord | None: ...

    async def claim_target(self, run_id: str, target_key: str, target: dict[str, str], at: datetime) -> bool:
        """PENDING -> RUNNING (set target_key, target, started_at) iff no other run holds target_key
        in RUNNING/AWAITING_APPROVAL. False: another run has the target; the run is left PENDING."""
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

    async def list_steps(self, run_id: str) -> list[StepRecord]: ...

    async def add_audit(self, entry: AuditEntry) -> None: ...

    async def runs_for_target_since(self, target_key: str, since: datetime) -> list[RunRecord]:
        """Runs on target_key that started (claimed the target) at or after since."""
        ...

    async def failed_verifications_since(self, runbook_id: str, since: datetime) -> int:
        """Runs of runbook_id finished with outcome FAILED at or after since."""
        ...

    async def effects_since(self, since: datetime) -> Effects:
        """Sum of pods_deleted / nodes_cordoned of APPLIED, not dry-run steps finished at or after since."""
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

    async def claim_target(self, run_id: str, target_key: str, target: dict[str, str], at: datetime) -> bool:
        if any(r.target_key == target_key and r.status in ACTIVE and r.id != run_id for r in self.runs.values()):
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
        applied = [s for s in self.steps.values() if s.outcome is StepOutcome.APPLIED and not s.dry_run
                   and s.finished_at is not None and s.finished_at >= since]
        return Effects(sum(s.pods_deleted for s in applied), sum(s.nodes_cordoned for s in applied))

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
