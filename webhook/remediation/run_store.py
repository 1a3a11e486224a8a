"""The SQL RunStore of remediator: every method one transaction, atomic across replicas by constraints."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, String, and_, case, cast, func, not_, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

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
from remediator.store import ACTIVE, HOUR, fits_budget
from webhook.incidents.tables import incidents
from webhook.remediation.tables import remediation_approvals as approvals
from webhook.remediation.tables import remediation_audit as audit
from webhook.remediation.tables import remediation_runs as runs
from webhook.remediation.tables import remediation_steps as steps
from webhook.store.db import Database

#: runbook id -> its cooldown (None: unknown runbook, no re-check)
CooldownOf = Callable[[str], timedelta | None]


def run_pk(run_id: str) -> int | None:
    """The numeric key of a run id, or None for anything that is not one (hostile API input)."""
    return int(run_id) if run_id.isdigit() and len(run_id) < 18 else None


def _pk(run_id: str) -> int:
    pk = run_pk(run_id)
    if pk is None:
        raise KeyError(f"no run {run_id}")
    return pk


def _insert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def run_record(row: Any) -> RunRecord:
    return RunRecord(
        id=str(row.id), idempotency_key=row.idempotency_key, runbook_id=row.runbook_id,
        incident_id=row.incident_id, triggered_by=row.triggered_by, labels=dict(row.labels),
        annotations=dict(row.annotations), dry_run=bool(row.dry_run), status=RunStatus(row.status),
        created_at=row.created_at, updated_at=row.updated_at,
        outcome=Outcome(row.outcome) if row.outcome else None, reason=row.reason, target_key=row.target_key,
        target=dict(row.target), next_step=row.next_step, started_at=row.started_at, finished_at=row.finished_at)


def step_record(row: Any) -> StepRecord:
    return StepRecord(
        run_id=str(row.run_id), phase=Phase(row.phase), index=row.step_index, action=row.action,
        summary=row.summary, started_at=row.started_at, dry_run=bool(row.dry_run), outcome=StepOutcome(row.outcome),
        params=dict(row.params), response=row.response, finished_at=row.finished_at, pods_deleted=row.pods_deleted,
        nodes_cordoned=row.nodes_cordoned, guard=row.guard, reason=row.reason)


def approval_record(row: Any) -> ApprovalRecord:
    return ApprovalRecord(
        run_id=str(row.run_id), step_index=row.step_index, message=row.message, requested_at=row.requested_at,
        expires_at=row.expires_at, decision=ApprovalDecision(row.decision) if row.decision else None,
        decided_by=row.decided_by, decided_at=row.decided_at)


def get_run(conn: Connection, run_id: str) -> RunRecord | None:
    pk = run_pk(run_id)
    row = None if pk is None else conn.execute(select(runs).where(runs.c.id == pk)).first()
    return None if row is None else run_record(row)


def create_run(conn: Connection, new: NewRun) -> tuple[RunRecord, bool]:
    stmt = _insert(conn)(runs).values(
        idempotency_key=new.idempotency_key, runbook_id=new.runbook_id, incident_id=new.incident_id,
        triggered_by=new.triggered_by, labels=dict(new.labels), annotations=dict(new.annotations),
        dry_run=new.dry_run, status=RunStatus.PENDING.value, reason="", target={}, next_step=0,
        created_at=new.created_at, updated_at=new.created_at,
    ).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(runs.c.id)
    created = conn.execute(stmt).first() is not None
    row = conn.execute(select(runs).where(runs.c.idempotency_key == new.idempotency_key)).one()
    return run_record(row), created


#: The advisory lock (PostgreSQL) that serialises blast-radius reservations of all runs on all replicas.
BUDGET_LOCK = "remediation:blast-radius"


def _lock_id(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def _write_lock(conn: Connection, name: str) -> None:
    """Make a check-then-write transaction atomic across replicas. SQLite: take the database's write lock
    before the first read (BEGIN IMMEDIATE; pysqlite would begin the transaction only at the first write,
    after the checks). PostgreSQL: an advisory lock on `name`, held until commit."""
    if conn.dialect.name == "sqlite":
        driver = conn.connection.driver_connection
        if driver is not None and not driver.in_transaction:  # a caller may have begun it already
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        return
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_id(name)})


def claim_target(conn: Connection, run_id: str, target_key: str, target: dict[str, str], at: datetime,
                 cooldown: timedelta | None, max_runs_per_hour: int | None = None) -> bool:
    """PENDING -> RUNNING iff no active run holds the target and (re-checked under the lock, since another
    run or replica may have started and finished a run since the guards looked) none started within the
    cooldown and fewer than max_runs_per_hour started in the last hour."""
    pk = _pk(run_id)
    _write_lock(conn, f"remediation:{target_key}")
    others = select(func.count()).select_from(runs).where(runs.c.target_key == target_key, runs.c.id != pk)
    if conn.execute(others.where(runs.c.status.in_([s.value for s in ACTIVE]))).scalar_one():
        return False
    if cooldown and conn.execute(others.where(runs.c.started_at > at - cooldown)).scalar_one():
        return False
    if (max_runs_per_hour is not None
            and conn.execute(others.where(runs.c.started_at >= at - HOUR)).scalar_one() >= max_runs_per_hour):
        return False
    claim = update(runs).where(runs.c.id == pk, runs.c.status == RunStatus.PENDING.value).values(
        status=RunStatus.RUNNING.value, target_key=target_key, target=dict(target), started_at=at, updated_at=at)
    try:
        if conn.dialect.name == "postgresql":  # a failed statement aborts the transaction: use a savepoint
            with conn.begin_nested():
                return conn.execute(claim).rowcount == 1
        return conn.execute(claim).rowcount == 1
    except IntegrityError:  # the partial unique index: another replica claimed the target in between
        return False


def transition(conn: Connection, run_id: str, expected: tuple[RunStatus, ...], at: datetime, status: RunStatus,
               outcome: Outcome | None, reason: str | None, next_step: int | None) -> RunRecord | None:
    pk = _pk(run_id)
    values: dict[str, Any] = {"status": status.value, "updated_at": at}
    if outcome is not None:
        values["outcome"] = outcome.value
    if reason is not None:
        values["reason"] = reason
    if next_step is not None:
        values["next_step"] = next_step
    if status is RunStatus.FINISHED:
        values["finished_at"] = at
    moved = conn.execute(update(runs).where(runs.c.id == pk, runs.c.status.in_([s.value for s in expected]))
                         .values(**values)).rowcount
    return get_run(conn, run_id) if moved == 1 else None


def save_step(conn: Connection, step: StepRecord) -> None:
    values = {
        "action": step.action, "summary": step.summary, "started_at": step.started_at, "dry_run": step.dry_run,
        "outcome": step.outcome.value, "params": dict(step.params), "response": step.response,
        "finished_at": step.finished_at, "pods_deleted": step.pods_deleted, "nodes_cordoned": step.nodes_cordoned,
        "guard": step.guard, "reason": step.reason}
    stmt = _insert(conn)(steps).values(run_id=_pk(step.run_id), phase=step.phase.value, step_index=step.index,
                                       **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["run_id", "phase", "step_index"], set_=values))


def reserve_step(conn: Connection, step: StepRecord, since: datetime, limit: Effects) -> tuple[bool, Effects]:
    """Count the budget spent or in flight and save the step as in flight, in one transaction under the
    budget lock: two runs (or replicas) cannot both see the last pod of the budget as free."""
    _write_lock(conn, BUDGET_LOCK)
    done = _effects(conn, since, (_pk(step.run_id), step.phase, step.index))
    if not fits_budget(done, step, limit):
        return False, done
    save_step(conn, step)
    return True, done


def heartbeat(conn: Connection, run_id: str, at: datetime) -> bool:
    moved = conn.execute(update(runs).where(runs.c.id == _pk(run_id), runs.c.status == RunStatus.RUNNING.value)
                         .values(updated_at=at)).rowcount
    return bool(moved == 1)


def list_steps(conn: Connection, run_id: str) -> list[StepRecord]:
    pk = run_pk(run_id)
    order = case((steps.c.phase == Phase.STEPS.value, 0), else_=1)
    rows = conn.execute(select(steps).where(steps.c.run_id == pk).order_by(order, steps.c.step_index))
    return [step_record(r) for r in rows]


def add_audit(conn: Connection, entry: AuditEntry) -> None:
    conn.execute(audit.insert().values(
        at=entry.at, kind=entry.kind.value, run_id=_pk(entry.run_id), runbook_id=entry.runbook_id,
        actor=entry.actor, message=entry.message, dry_run=entry.dry_run, incident_id=entry.incident_id,
        details=dict(entry.details)))


def runs_for_target_since(conn: Connection, target_key: str, since: datetime) -> list[RunRecord]:
    rows = conn.execute(select(runs).where(runs.c.target_key == target_key, runs.c.started_at >= since)
                        .order_by(runs.c.id))
    return [run_record(r) for r in rows]


def failed_verifications_since(conn: Connection, runbook_id: str, since: datetime) -> int:
    q = select(func.count()).select_from(runs).where(
        runs.c.runbook_id == runbook_id, runs.c.outcome == Outcome.FAILED.value, runs.c.finished_at >= since)
    return int(conn.execute(q).scalar_one())


def effects_since(conn: Connection, since: datetime) -> Effects:
    return _effects(conn, since)


def _effects(conn: Connection, since: datetime, exclude: tuple[int, Phase, int] | None = None) -> Effects:
    """remediator.store.counts_toward_budget in SQL: applied or in flight, not dry run, in the window."""
    spent: ColumnElement[bool] = and_(steps.c.dry_run.is_(False), or_(
        and_(steps.c.outcome == StepOutcome.APPLIED.value, steps.c.finished_at >= since),
        and_(steps.c.outcome == StepOutcome.RUNNING.value, steps.c.started_at >= since)))
    if exclude is not None:
        run_id, phase, index = exclude
        spent = and_(spent, not_(and_(steps.c.run_id == run_id, steps.c.phase == phase.value,
                                      steps.c.step_index == index)))
    q = select(func.coalesce(func.sum(steps.c.pods_deleted), 0),
               func.coalesce(func.sum(steps.c.nodes_cordoned), 0)).where(spent)
    pods, nodes = conn.execute(q).one()
    return Effects(int(pods), int(nodes))


def runs_with_status(conn: Connection, statuses: tuple[RunStatus, ...]) -> list[RunRecord]:
    rows = conn.execute(select(runs).where(runs.c.status.in_([s.value for s in statuses])).order_by(runs.c.id))
    return [run_record(r) for r in rows]


def waiting_runs_of_resolved_incidents(conn: Connection) -> list[tuple[str, str]]:
    """(run id, who resolved) of runs pending or awaiting approval whose incident is resolved."""
    q = (select(runs.c.id, incidents.c.resolved_by)
         .join(incidents, runs.c.incident_id == cast(incidents.c.id, String))
         .where(runs.c.status.in_([RunStatus.PENDING.value, RunStatus.AWAITING_APPROVAL.value]),
                incidents.c.state == "resolved"))
    return [(str(r[0]), str(r[1] or "tocsin")) for r in conn.execute(q)]


def get_approval(conn: Connection, run_id: str, step_index: int) -> ApprovalRecord | None:
    row = conn.execute(select(approvals).where(approvals.c.run_id == run_pk(run_id),
                                               approvals.c.step_index == step_index)).first()
    return None if row is None else approval_record(row)


def request_approval(conn: Connection, approval: ApprovalRecord) -> ApprovalRecord:
    conn.execute(_insert(conn)(approvals).values(
        run_id=_pk(approval.run_id), step_index=approval.step_index, message=approval.message,
        requested_at=approval.requested_at, expires_at=approval.expires_at,
        decision=approval.decision.value if approval.decision else None, decided_by=approval.decided_by,
        decided_at=approval.decided_at).on_conflict_do_nothing(index_elements=["run_id", "step_index"]))
    stored = get_approval(conn, approval.run_id, approval.step_index)
    assert stored is not None
    return stored


def decide_approval(conn: Connection, run_id: str, step_index: int, decision: ApprovalDecision, by: str,
                    at: datetime) -> ApprovalRecord:
    conn.execute(update(approvals).where(
        approvals.c.run_id == _pk(run_id), approvals.c.step_index == step_index, approvals.c.decision.is_(None),
    ).values(decision=decision.value, decided_by=by, decided_at=at))
    stored = get_approval(conn, run_id, step_index)
    if stored is None:
        raise KeyError(f"run {run_id} has no approval request for step {step_index}")
    return stored


def decide_approval_once(conn: Connection, run_id: str, step_index: int, decision: ApprovalDecision, by: str,
                         at: datetime) -> tuple[bool, ApprovalRecord | None]:
    """(True if this call made the decision, the stored request): a double click is decided once."""
    won = conn.execute(update(approvals).where(
        approvals.c.run_id == _pk(run_id), approvals.c.step_index == step_index, approvals.c.decision.is_(None),
    ).values(decision=decision.value, decided_by=by, decided_at=at)).rowcount == 1
    return won, get_approval(conn, run_id, step_index)


class SqlRunStore:
    """remediator's RunStore over the service database (SQLite or PostgreSQL), safe under replicas."""

    def __init__(self, db: Database, cooldown_of: CooldownOf = lambda _: None) -> None:
        self.db = db
        self._cooldown_of = cooldown_of

    async def create_run(self, new: NewRun) -> tuple[RunRecord, bool]:
        return await self.db.write(create_run, new)

    async def get_run(self, run_id: str) -> RunRecord | None:
        return await self.db.read(get_run, run_id)

    async def claim_target(self, run_id: str, target_key: str, target: dict[str, str], at: datetime, *,
                           cooldown: timedelta | None = None, max_runs_per_hour: int | None = None) -> bool:
        if cooldown is None:
            run = await self.get_run(run_id)
            cooldown = self._cooldown_of(run.runbook_id) if run is not None else None
        return await self.db.write(claim_target, run_id, target_key, target, at, cooldown, max_runs_per_hour)

    async def transition(self, run_id: str, expected: tuple[RunStatus, ...], *, at: datetime,
                         status: RunStatus, outcome: Outcome | None = None, reason: str | None = None,
                         next_step: int | None = None) -> RunRecord | None:
        return await self.db.write(transition, run_id, expected, at, status, outcome, reason, next_step)

    async def save_step(self, step: StepRecord) -> None:
        await self.db.write(save_step, step)

    async def reserve_step(self, step: StepRecord, since: datetime, limit: Effects) -> tuple[bool, Effects]:
        return await self.db.write(reserve_step, step, since, limit)

    async def heartbeat(self, run_id: str, at: datetime) -> bool:
        return await self.db.write(heartbeat, run_id, at)

    async def list_steps(self, run_id: str) -> list[StepRecord]:
        return await self.db.read(list_steps, run_id)

    async def add_audit(self, entry: AuditEntry) -> None:
        await self.db.write(add_audit, entry)

    async def runs_for_target_since(self, target_key: str, since: datetime) -> list[RunRecord]:
        return await self.db.read(runs_for_target_since, target_key, since)

    async def failed_verifications_since(self, runbook_id: str, since: datetime) -> int:
        return await self.db.read(failed_verifications_since, runbook_id, since)

    async def effects_since(self, since: datetime) -> Effects:
        return await self.db.read(effects_since, since)

    async def runs_with_status(self, statuses: tuple[RunStatus, ...]) -> list[RunRecord]:
        return await self.db.read(runs_with_status, statuses)

    async def request_approval(self, approval: ApprovalRecord) -> ApprovalRecord:
        return await self.db.write(request_approval, approval)

    async def get_approval(self, run_id: str, step_index: int) -> ApprovalRecord | None:
        return await self.db.read(get_approval, run_id, step_index)

    async def decide_approval(self, run_id: str, step_index: int, decision: ApprovalDecision, by: str,
                              at: datetime) -> ApprovalRecord:
        return await self.db.write(decide_approval, run_id, step_index, decision, by, at)
