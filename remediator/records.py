"""The durable records of remediation: runs, steps, approvals, audit entries (what the store persists)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class RunStatus(StrEnum):
    """Where a run is in its life; only FINISHED runs have an outcome."""

    PENDING = "pending"  # created, guards not yet passed
    RUNNING = "running"  # owns its target; steps or verification in progress
    AWAITING_APPROVAL = "awaiting_approval"  # paused durably at `next_step`
    FINISHED = "finished"


class Outcome(StrEnum):
    """How a run ended (a metric label: tocsin_remediation_runs{outcome})."""

    VERIFIED = "verified"  # actions applied and the verify query held: the page can be avoided
    COMPLETED = "completed"  # actions applied, the runbook has no verify query
    FAILED = "failed"  # verification did not hold in time (rollback ran, escalation resumes)
    REFUSED = "refused"  # a guard or a template check refused; nothing changed
    ABORTED = "aborted"  # an approver rejected, or someone aborted the run
    DRY_RUN = "dry_run"  # ran with server-side dry run; nothing changed
    ESCALATED = "escalated"  # handed to a human: action error, approval timeout, interrupted run
    SKIPPED = "skipped"  # preconditions did not hold


#: Outcomes after which the incident's escalation must resume (a human is needed).
NEEDS_HUMAN = frozenset({Outcome.FAILED, Outcome.REFUSED, Outcome.ABORTED, Outcome.ESCALATED, Outcome.SKIPPED,
                         Outcome.DRY_RUN, Outcome.COMPLETED})


class StepOutcome(StrEnum):
    """What happened to one step."""

    RUNNING = "running"  # started, not finished (found after a crash: state unknown)
    APPLIED = "applied"
    NOOP = "noop"  # nothing to do (already in the wanted state, read-only check passed)
    REFUSED = "refused"
    FAILED = "failed"
    AWAITING_APPROVAL = "awaiting_approval"


class Phase(StrEnum):
    """Steps run in the main phase; rollback steps run after a failure."""

    STEPS = "steps"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class NewRun:
    """What the caller knows when asking for a run. `idempotency_key` is unique per incident episode."""

    idempotency_key: str
    runbook_id: str
    incident_id: str | None
    triggered_by: str
    labels: dict[str, str]
    annotations: dict[str, str]
    dry_run: bool
    created_at: datetime


@dataclass(frozen=True)
class RunRecord:
    """A run as stored."""

    id: str
    idempotency_key: str
    runbook_id: str
    incident_id: str | None
    triggered_by: str
    labels: dict[str, str]
    annotations: dict[str, str]
    dry_run: bool
    status: RunStatus
    created_at: datetime
    updated_at: datetime
    outcome: Outcome | None = None
    reason: str = ""
    target_key: str | None = None
    target: dict[str, str] = field(default_factory=dict)
    next_step: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class StepRecord:
    """One step attempt; saved when it starts and again when it ends (upsert on run_id, phase, index)."""

    run_id: str
    phase: Phase
    index: int
    action: str
    summary: str
    started_at: datetime
    dry_run: bool
    outcome: StepOutcome
    params: dict[str, object] = field(default_factory=dict)
    response: str = ""
    finished_at: datetime | None = None
    pods_deleted: int = 0
    nodes_cordoned: int = 0
    guard: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class Effects:
    """Disruption applied (not dry run) across all runs in a window: the blast-radius counters."""

    pods_deleted: int = 0
    nodes_cordoned: int = 0


class ApprovalDecision(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True)
class ApprovalRecord:
    """A request for approval of one step of one run, and its decision (the first decision wins)."""

    run_id: str
    step_index: int
    message: str
    requested_at: datetime
    expires_at: datetime
    decision: ApprovalDecision | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None


class AuditKind(StrEnum):
    RUN_CREATED = "run_created"
    TEMPLATE_REFUSED = "template_refused"
    GUARD_REFUSED = "guard_refused"
    STEP_APPLIED = "step_applied"
    STEP_FAILED = "step_failed"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVAL_DECIDED = "approval_decided"
    RUN_FINISHED = "run_finished"


@dataclass(frozen=True)
class AuditEntry:
    """Every attempt and refusal: who or what triggered it, runbook, parameters, dry run, result."""

    at: datetime
    kind: AuditKind
    run_id: str
    runbook_id: str
    actor: str
    message: str
    dry_run: bool = False
    incident_id: str | None = None
    details: dict[str, object] = field(default_factory=dict)
