"""Run requests (one per incident episode and runbook), escalation holds, timeline entries and API queries."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from webhook.incidents.tables import incident_events, incidents
from webhook.remediation.run_store import run_pk
from webhook.remediation.tables import remediation_requests as requests
from webhook.remediation.tables import remediation_runs as runs

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
