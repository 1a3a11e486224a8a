"""Run requests (one per incident episode and runbook), escalation holds, timeline entries and API queries."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from remediator.store import ACTIVE
from webhook.incidents.tables import incident_events, incidents
from webhook.remediation.run_store import run_pk
from webhook.remediation.tables import remediation_approvals as approvals
from webhook.remediation.tables import remediation_audit as audit
from webhook.remediation.tables import remediation_requests as requests
from webhook.remediation.tables import remediation_runs as runs
from webhook.remediation.tables import remediation_steps as steps

MAX_PAGE = 500
WAITING, PENDING, CLAIMED, DONE, CANCELLED = "waiting", "pending", "claimed", "done", "cancelled"

#: labels -> [(runbook id, escalation hold)] of the runbooks that match
Matcher = Callable[[dict[str, str]], list[tuple[str, timedelta]]]


@dataclass(frozen=True)
class RunRequest:
    """A durable "start this runbook for this incident episode" claimed by one worker."""

    id: int
    incident_id: int
    runbook_id: str
    fingerprint: str
    starts_at: str
    labels: dict[str, str]
    annotations: dict[str, str]


def add_requests(conn: Connection, opened: Mapping[int, Mapping[str, Any]], matching: Matcher, now: datetime,
                 trigger_step: int | None) -> int:
    """Inside the ingest transaction: one request per (opened incident, matching runbook). With a trigger
    step the request waits for escalation_step_reached; otherwise it is due now and holds the escalation.
    `opened` is the ingest batch's opening alert per new incident (no read-back)."""
    if not opened:
        return 0
    values = []
    for incident_id, a in opened.items():
        for runbook_id, hold in matching(dict(a["labels"])):
            values.append({
                "incident_id": incident_id, "runbook_id": runbook_id, "fingerprint": a["fingerprint"],
                "starts_at": a["starts_at"].isoformat(), "labels": dict(a["labels"]),
                "annotations": dict(a["annotations"]),
                "state": WAITING if trigger_step is not None else PENDING, "trigger_step": trigger_step,
                "hold_until": None if trigger_step is not None else now + hold, "created_at": now,
                "attempts": 0, "error": ""})
    if values:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(dialect.insert(requests).values(values).on_conflict_do_nothing(
            index_elements=["incident_id", "runbook_id"]))
    return len(values)


def escalation_step_reached(conn: Connection, incident_id: int, step: int, now: datetime) -> int:
    """For the escalation side, in its transaction: requests waiting for this step (or an earlier one) are due."""
    return conn.execute(update(requests).where(
        requests.c.incident_id == incident_id, requests.c.state == WAITING, requests.c.trigger_step <= step,
    ).values(state=PENDING, created_at=now)).rowcount


def cancel_requests(conn: Connection, incident_id: int) -> int:
    """The incident resolved before a worker got to it: no run is needed any more."""
    return conn.execute(update(requests).where(
        requests.c.incident_id == incident_id, requests.c.state.in_([WAITING, PENDING]),
    ).values(state=CANCELLED, hold_until=None)).rowcount


def claim_requests(conn: Connection, now: datetime, worker: str, limit: int, lease: timedelta) -> list[RunRequest]:
    """Due requests, and claimed ones whose worker died (the run's idempotency key makes a retry safe)."""
    q = select(requests).where(or_(
        requests.c.state == PENDING,
        (requests.c.state == CLAIMED) & (requests.c.claimed_at < now - lease),
    )).order_by(requests.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    rows = conn.execute(q).all()
    for r in rows:
        conn.execute(update(requests).where(requests.c.id == r.id).values(
            state=CLAIMED, claimed_at=now, claimed_by=worker, attempts=r.attempts + 1))
    return [RunRequest(r.id, r.incident_id, r.runbook_id, r.fingerprint, r.starts_at, dict(r.labels),
                       dict(r.annotations)) for r in rows]


def finish_request(conn: Connection, request_id: int, run_id: str | None, error: str = "") -> None:
    conn.execute(update(requests).where(requests.c.id == request_id).values(
        state=DONE, run_id=run_id, error=error[:2000]))


def held_until(conn: Connection, incident_id: int, now: datetime) -> datetime | None:
    """For the escalation side: skip the incident's steps until this time (None: not held, fire now)."""
    from_requests = select(func.max(requests.c.hold_until)).where(
        requests.c.incident_id == incident_id, requests.c.state.in_([PENDING, CLAIMED]))
    from_runs = select(func.max(runs.c.hold_escalation_until)).where(runs.c.incident_id == str(incident_id))
    times = [t for t in (conn.execute(from_requests).scalar(), conn.execute(from_runs).scalar()) if t is not None]
    until = max(times, default=None)
    return until if until is not None and until > now else None


def set_hold(conn: Connection, run_id: str, incident_id: int | None, until: datetime | None) -> None:
    """Hold (or with None release) the escalation for this run; releasing also drops the request's hold."""
    conn.execute(update(runs).where(runs.c.id == run_pk(run_id)).values(hold_escalation_until=until))
    if until is None and incident_id is not None:
        conn.execute(update(requests).where(requests.c.incident_id == incident_id).values(hold_until=None))


def add_timeline(conn: Connection, incident_id: int, at: datetime, kind: str, actor: str,
                 detail: dict[str, Any]) -> bool:
    """A remediation line on the incident timeline; False when the incident does not exist."""
    if conn.execute(select(incidents.c.id).where(incidents.c.id == incident_id)).first() is None:
        return False
    conn.execute(insert(incident_events).values(incident_id=incident_id, at=at, kind=kind, actor=actor,
                                                detail=detail))
    return True


def incident_state(conn: Connection, incident_id: int) -> tuple[str, bool] | None:
    """(state, acknowledged) of an incident, None if unknown."""
    row = conn.execute(select(incidents.c.state, incidents.c.acked_at).where(incidents.c.id == incident_id)).first()
    return None if row is None else (row.state, row.acked_at is not None)


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
