"""Reads of runs, steps and the audit trail for the API and the metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from remediator.store import ACTIVE
from webhook.remediation.run_store import run_pk
from webhook.remediation.tables import remediation_approvals as approvals
from webhook.remediation.tables import remediation_audit as audit
from webhook.remediation.tables import remediation_runs as runs
from webhook.remediation.tables import remediation_steps as steps


def active_runs(conn: Connection) -> int:
    """For the tocsin_remediation_runs_active gauge."""
    q = select(func.count()).select_from(runs).where(runs.c.status.in_([s.value for s in ACTIVE]))
    return int(conn.execute(q).scalar_one())


def _dict(row: Any) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row._mapping.items()}


def list_runs(conn: Connection, *, incident_id: str | None = None, runbook_id: str | None = None,
              status: list[str] | None = None, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
    q = select(runs).order_by(runs.c.id.desc()).limit(min(max(limit, 1), MAX_PAGE))
    if incident_id is not None:
        q = q.where(runs.c.incident_id == incident_id)
    if runbook_id is not None:
        q = q.where(runs.c.runbook_id == runbook_id)
    if status:
        q = q.where(runs.c.status.in_(status))
    if before is not None:
        q = q.where(runs.c.id < before)
    return [_dict(r) for r in conn.execute(q)]


def run_detail(conn: Connection, run_id: str) -> dict[str, Any] | None:
    pk = run_pk(run_id)
    row = None if pk is None else conn.execute(select(runs).where(runs.c.id == pk)).first()
    if row is None:
        return None
    out = _dict(row)
    out["steps"] = [_dict(r) for r in conn.execute(
        select(steps).where(steps.c.run_id == pk).order_by(steps.c.phase.desc(), steps.c.step_index))]
    out["approvals"] = [_dict(r) for r in conn.execute(
        select(approvals).where(approvals.c.run_id == pk).order_by(approvals.c.step_index))]
    out["audit"] = [_dict(r) for r in conn.execute(select(audit).where(audit.c.run_id == pk).order_by(audit.c.id))]
    return out


def list_audit(conn: Connection, *, run_id: str | None = None, runbook_id: str | None = None,
               incident_id: str | None = None, kind: list[str] | None = None, limit: int = 100,
               before: int | None = None) -> list[dict[str, Any]]:
    q = select(audit).order_by(audit.c.id.desc()).limit(min(max(limit, 1), MAX_PAGE))
    if run_id is not None:
        q = q.where(audit.c.run_id == run_pk(run_id))
    if runbook_id is not None:
        q = q.where(audit.c.runbook_id == runbook_id)
    if incident_id is not None:
        q = q.where(audit.c.incident_id == incident_id)
    if kind:
        q = q.where(audit.c.kind.in_(kind))
    if before is not None:
        q = q.where(audit.c.id < before)
    return [_dict(r) for r in conn.execute(q)]


MAX_PAGE = 500
