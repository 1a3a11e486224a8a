"""The delivery outbox: claim due rows with a lease (SKIP LOCKED), load what a message needs, record outcomes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from webhook.store.escalation_repo import add_events, delivery_row, incident_rows, insert_deliveries
from webhook.store.escalation_schema import deliveries, escalation_runs
from webhook.store.schema import alerts, incidents

MAX_GROUP = 500
MAX_ALERTS = 500


@dataclass
class Job:
    """One claimed delivery with everything its message needs, read in the claiming transaction."""

    row: dict[str, Any]
    incidents: list[dict[str, Any]]
    previous_reference: str | None = None
    alerts: dict[int, list[dict[str, str]]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    job: Job
    outcome: str  # delivered, retry, failed
    reference: str | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None


def _group(conn: Connection, key: str, only_triggered: bool) -> list[dict[str, Any]]:
    q = (select(incidents).join(escalation_runs, escalation_runs.c.incident_id == incidents.c.id)
         .where(escalation_runs.c.group_key == key).order_by(incidents.c.id).limit(MAX_GROUP))
    if only_triggered:
        q = q.where(incidents.c.state == "triggered")
    return list({r.id: dict(r._mapping) for r in conn.execute(q)}.values())


def _still_wanted(row: dict[str, Any], inc: dict[str, Any] | None) -> bool:
    """A page about an incident somebody acknowledged or resolved meanwhile is not sent."""
    if inc is None:
        return row["kind"] not in ("trigger", "reminder")
    if row["kind"] == "trigger":
        return bool(inc["state"] == "triggered")
    if row["kind"] == "reminder":
        return bool(inc["state"] != "resolved")
    return True


def claim(conn: Connection, now: datetime, worker: str, lease: timedelta, limit: int) -> list[Job]:
    q = (select(deliveries).where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now)
         .order_by(deliveries.c.next_attempt_at).limit(limit).with_for_update(skip_locked=True))
    rows = [dict(r._mapping) for r in conn.execute(q)]
    if not rows:
        return []
    incs = incident_rows(conn, [r["incident_id"] for r in rows if r["incident_id"] is not None])
    jobs, dropped = [], []
    for r in rows:
        if r["group_key"]:
            members = _group(conn, r["group_key"], only_triggered=r["kind"] == "storm_summary")
            (jobs.append(Job(r, members)) if members else dropped.append(r["id"]))
            continue
        inc = incs.get(r["incident_id"]) if r["incident_id"] is not None else None
        (jobs.append(Job(r, [inc] if inc else [])) if _still_wanted(r, inc) else dropped.append(r["id"]))
    if dropped:
        conn.execute(update(deliveries).where(deliveries.c.id.in_(dropped))
                     .values(status="cancelled", finished_at=now))
    if jobs:
        conn.execute(update(deliveries).where(deliveries.c.id.in_([j.row["id"] for j in jobs])).values(
            attempts=deliveries.c.attempts + 1, claimed_by=worker, claimed_until=now + lease,
            next_attempt_at=now + lease))
        _previous(conn, jobs)
        _alerts(conn, [j for j in jobs if j.row["channel"] == "pagerduty" and not j.row["group_key"]])
    for j in jobs:
        j.row["attempts"] += 1
    return jobs


def _previous(conn: Connection, jobs: list[Job]) -> None:
    """The latest reference a delivery to the same incident, channel and address got (Slack ts, Message-ID)."""
    ids = sorted({j.row["incident_id"] for j in jobs if j.row["incident_id"] is not None and not j.row["group_key"]})
    if not ids:
        return
    latest: dict[tuple[int, str, str], tuple[int, str]] = {}
    q = (select(deliveries.c.id, deliveries.c.incident_id, deliveries.c.channel, deliveries.c.address,
                deliveries.c.reference)
         .where(deliveries.c.incident_id.in_(ids), deliveries.c.status == "delivered",
                deliveries.c.reference.is_not(None), deliveries.c.group_key.is_(None)))
    for r in conn.execute(q):
        key = (r.incident_id, r.channel, r.address)
        if key not in latest or r.id > latest[key][0]:
            latest[key] = (r.id, r.reference)
    for j in jobs:
        hit = latest.get((j.row["incident_id"], j.row["channel"], j.row["address"]))
        j.previous_reference = hit[1] if hit else None


def _alerts(conn: Connection, jobs: list[Job]) -> None:
    ids = sorted({j.row["incident_id"] for j in jobs})
    if not ids:
        return
    found: dict[int, list[dict[str, str]]] = defaultdict(list)
    for r in conn.execute(select(alerts.c.incident_id, alerts.c.labels).where(alerts.c.incident_id.in_(ids))
                          .order_by(alerts.c.id)):
        if len(found[r.incident_id]) < MAX_ALERTS:
            found[r.incident_id].append({str(k): str(v) for k, v in r.labels.items()})
    for j in jobs:
        j.alerts = dict(found)


def complete(conn: Connection, outcomes: list[Outcome], now: datetime, worker: str) -> list[Outcome]:
    """Record outcomes of this worker's claims (a claim lost to lease expiry is ignored); returns those kept."""
    kept, events, extra = [], [], []
    now_state = {i: r["state"] for i, r in incident_rows(conn, [
        o.job.row["incident_id"] for o in outcomes if o.outcome == "delivered" and o.job.row["kind"] == "trigger"
        and o.job.row["incident_id"] is not None]).items()}
    for o in outcomes:
        r = o.job.row
        values: dict[str, Any] = {"claimed_by": None, "claimed_until": None, "last_error": o.error}
        if o.outcome == "delivered":
            values.update(status="delivered", reference=o.reference, finished_at=now)
        elif o.outcome == "retry":
            values.update(next_attempt_at=o.next_attempt_at)
        else:
            values.update(status="failed", finished_at=now)
        done = conn.execute(update(deliveries).where(
            deliveries.c.id == r["id"], deliveries.c.claimed_by == worker, deliveries.c.attempts == r["attempts"],
            deliveries.c.status == "pending").values(**values)).rowcount
        if not done:
            continue
        kept.append(o)
        if r["incident_id"] is not None:
            detail = {"delivery": r["id"], "channel": r["channel"], "to": r["responder"] or r["address"],
                      "kind": r["kind"], "attempt": r["attempts"], "outcome": o.outcome}
            detail.update({"error": o.error[:500]} if o.error else {})
            events.append((r["incident_id"], now, "delivery", detail))
        extra += _follow_up(o, now_state.get(r["incident_id"]), now)
    insert_deliveries(conn, extra)
    add_events(conn, events)
    return kept


def _follow_up(o: Outcome, state: str | None, now: datetime) -> list[dict[str, Any]]:
    """A page that went out after its incident changed state gets the update; a failed critical page falls back."""
    r = o.job.row
    if o.outcome == "delivered" and state is not None and r["kind"] == "trigger" and state != "triggered" \
            and r["channel"] != "voice":
        kind = {"acknowledged": "ack", "resolved": "resolve"}.get(state, "update")
        return [delivery_row(f"{r['idem_key'][:180]}:late:{kind}", r["incident_id"], None, None, kind, r["channel"],
                             r["address"], r["responder"], r["locale"], r["severity"], now)]
    if o.outcome == "failed" and r["severity"] == "critical" and r["kind"] == "trigger" and r["fallback"]:
        (channel, address), rest = r["fallback"][0], r["fallback"][1:]
        return [delivery_row(f"{r['idem_key'][:180]}:fb:{channel}", r["incident_id"], None, r["step_seq"], "trigger",
                             channel, address, r["responder"], r["locale"], r["severity"], now, fallback=rest)]
    return []
