"""Run requests (one per incident episode and runbook), escalation holds, timeline entries and API queries."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

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
    return cancel_requests_of(conn, [incident_id])


#: Incident ids per statement (bounded bind parameters in a storm's batch of resolves).
_CHUNK = 500


def cancel_requests_of(conn: Connection, incident_ids: Iterable[int]) -> int:
    """cancel_requests for many incidents (an ingest batch's resolves by Alertmanager), a statement per 500."""
    ids, n = sorted(set(incident_ids)), 0
    for i in range(0, len(ids), _CHUNK):
        n += conn.execute(update(requests).where(
            requests.c.incident_id.in_(ids[i:i + _CHUNK]), requests.c.state.in_([WAITING, PENDING]),
        ).values(state=CANCELLED, hold_until=None)).rowcount
    return n


def cancel_claimed(conn: Connection, request_id: int, reason: str) -> None:
    """A claimed request whose incident was resolved before a slot was free: it ends without a run (and
    without holding the escalation), so no runbook acts on a problem that is already gone."""
    conn.execute(update(requests).where(requests.c.id == request_id, requests.c.state == CLAIMED).values(
        state=CANCELLED, hold_until=None, error=reason[:2000]))


def wait_for_step(conn: Connection, request_id: int, step: int) -> bool:
    """A claimed request whose incident a maintenance window covers now: instead of starting, it waits for the
    escalation to reach `step` (which the window holds until its end), and no longer holds the escalation."""
    return bool(conn.execute(update(requests).where(requests.c.id == request_id, requests.c.state == CLAIMED).values(
        state=WAITING, trigger_step=step, hold_until=None, claimed_at=None, claimed_by=None)).rowcount)


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


def end_grace_holds(conn: Connection, incident_ids: Iterable[int], now: datetime) -> list[int]:
    """A new alert fired in these incidents: the holds that finished runs keep after `verified` (verified_grace,
    waiting for the alert's resolve) end now, since the fix did not hold. Holds of runs still working stay.
    Returns the incidents whose hold ended."""
    ids, ended = sorted({str(i) for i in incident_ids}), []
    for i in range(0, len(ids), _CHUNK):
        finished_holding = (runs.c.incident_id.in_(ids[i:i + _CHUNK]), runs.c.status == "finished",
                            runs.c.hold_escalation_until > now)
        found = {r[0] for r in conn.execute(select(runs.c.incident_id).where(*finished_holding))}
        if found:
            conn.execute(update(runs).where(*finished_holding).values(hold_escalation_until=now))
            ended += sorted(int(x) for x in found)
    return ended


def release_holds(conn: Connection, incident_id: int) -> None:
    """Every remediation hold on the incident ends now (its requests' and its runs'): a human is needed."""
    conn.execute(update(requests).where(requests.c.incident_id == incident_id).values(hold_until=None))
    conn.execute(update(runs).where(runs.c.incident_id == str(incident_id)).values(hold_escalation_until=None))


@dataclass(frozen=True)
class IncidentEnd:
    """How an incident stands when one of its runs ends: whether and by whom it was resolved, and the open
    incident of the same key if a new one opened meanwhile (the key has one open incident at most)."""

    state: str
    resolved_by: str | None
    open_of_key: int | None


def incident_end(conn: Connection, incident_id: int) -> IncidentEnd | None:
    """The incident's state, its resolver and the open incident of its key (None: no such incident)."""
    row = conn.execute(select(incidents.c.state, incidents.c.resolved_by, incidents.c.incident_key)
                       .where(incidents.c.id == incident_id)).first()
    if row is None:
        return None
    other = conn.execute(select(incidents.c.id).where(
        incidents.c.incident_key == row.incident_key, incidents.c.state != "resolved",
        incidents.c.id != incident_id)).scalar()
    return IncidentEnd(row.state, row.resolved_by, other)


def reopen(conn: Connection, incident_id: int, at: datetime, actor: str, detail: dict[str, Any]) -> bool:
    """Resolved -> triggered (compare-and-set on the state), with a `reopened` timeline entry. The incident keeps
    its alerts' counts: it stays open until a human acknowledges or resolves it. False: it was not resolved, or
    (PostgreSQL, in a savepoint) another transaction just opened an incident of its key."""
    stmt = update(incidents).where(incidents.c.id == incident_id, incidents.c.state == "resolved").values(
        state="triggered", resolved_at=None, resolved_by=None, resolve_after=None, snoozed_until=None, updated_at=at)
    if conn.dialect.name == "postgresql":
        try:
            with conn.begin_nested():
                changed = conn.execute(stmt).rowcount
        except IntegrityError:  # uq_incidents_open_key: the key has an open incident now
            return False
    else:  # SQLite: the write lock of this transaction keeps ingest out
        changed = conn.execute(stmt).rowcount
    if changed:
        add_timeline(conn, incident_id, at, "reopened", actor, detail)
    return bool(changed)


def incident_state(conn: Connection, incident_id: int) -> tuple[str, bool] | None:
    """(state, acknowledged) of an incident, None if unknown."""
    row = conn.execute(select(incidents.c.state, incidents.c.acked_at).where(incidents.c.id == incident_id)).first()
    return None if row is None else (row.state, row.acked_at is not None)
