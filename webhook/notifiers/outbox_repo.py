"""The delivery outbox: claim due rows with a lease (SKIP LOCKED), load what a message needs, record outcomes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from webhook.incidents.queries import incident_rows
from webhook.incidents.tables import alerts, incidents
from webhook.incidents.timeline import add_events
from webhook.notifiers.base import GroupSummary
from webhook.notifiers.messages import summarize
from webhook.notifiers.tables import deliveries
from webhook.store.sql import insert_ignore_cached

MAX_ALERTS = 500


@dataclass(frozen=True, slots=True)
class GroupRows:
    """The incidents of a storm or digest: those a message lists (capped), and what every one of them is."""

    members: list[dict[str, Any]]  # incident rows, oldest first, at most the lookup's cap
    tally: list[tuple[str, dict[str, Any]]]  # (severity, labels) of every incident of the group, for the counts


#: (conn, group key, only triggered) -> the incidents a storm summary or digest covers. The group is
#: escalation's notion (its runs carry the key), so escalation passes its lookup in.
GroupMembers = Callable[[Connection, str, bool], GroupRows]


@dataclass
class Job:
    """One claimed delivery with everything its message needs, read in the claiming transaction."""

    row: dict[str, Any]
    incidents: list[dict[str, Any]]
    previous_reference: str | None = None
    alerts: dict[int, list[dict[str, str]]] = field(default_factory=dict)
    summary: GroupSummary | None = None  # storm summaries and digests: counts over all their incidents


@dataclass(frozen=True, slots=True)
class Outcome:
    job: Job
    outcome: str  # delivered, retry, failed
    reference: str | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None


def _still_wanted(row: dict[str, Any], inc: dict[str, Any] | None) -> bool:
    """A page about an incident somebody acknowledged or resolved meanwhile is not sent."""
    if inc is None:
        return row["kind"] not in ("trigger", "reminder")
    if row["kind"] == "trigger":
        return bool(inc["state"] == "triggered")
    if row["kind"] == "reminder":
        return bool(inc["state"] != "resolved")
    return True


def _due(conn: Connection, now: datetime, limit: int, channel: str | None) -> list[dict[str, Any]]:
    q = select(deliveries).where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now)
    if channel is not None:
        q = q.where(deliveries.c.channel == channel)
    q = q.order_by(deliveries.c.next_attempt_at, deliveries.c.id).limit(limit).with_for_update(skip_locked=True)
    return [dict(r._mapping) for r in conn.execute(q)]


def claim(conn: Connection, now: datetime, worker: str, lease: timedelta, limit: int | Mapping[str, int],
          members: GroupMembers) -> list[Job]:
    """Lease due deliveries to `worker`: up to `limit` oldest-due across channels, or up to limit[channel] of each.

    Rows another transaction holds are skipped (PostgreSQL SKIP LOCKED; SQLite serialises writers). Everything
    a message needs is read here, in a few set-based queries for the whole batch.
    """
    if isinstance(limit, int):
        rows = _due(conn, now, limit, None)
    else:
        rows = [r for channel, n in sorted(limit.items()) if n > 0 for r in _due(conn, now, n, channel)]
    if not rows:
        return []
    incs = incident_rows(conn, [r["incident_id"] for r in rows if r["incident_id"] is not None])
    groups = _groups(conn, {(r["group_key"], r["kind"] == "storm_summary") for r in rows if r["group_key"]},
                     members)
    jobs, dropped = [], []
    for r in rows:
        if r["group_key"]:
            covered, summary = groups[(r["group_key"], r["kind"] == "storm_summary")]
            (jobs.append(Job(r, covered, summary=summary)) if covered else dropped.append(r["id"]))
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
        j.row["claimed_by"], j.row["claimed_until"] = worker, now + lease
    return jobs


#: settle_due's statements, built once (the replay runs them thousands of times; building is most of their cost).
_SETTLE_DUE = (select(deliveries.c.id, deliveries.c.kind, deliveries.c.incident_id, deliveries.c.group_key,
                      incidents.c.state)
               .select_from(deliveries.outerjoin(incidents, incidents.c.id == deliveries.c.incident_id))
               .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= bindparam("now"))
               .order_by(deliveries.c.next_attempt_at, deliveries.c.id).limit(bindparam("limit")))
_SETTLE_CANCEL = (update(deliveries).where(deliveries.c.id.in_(bindparam("ids", expanding=True)))
                  .values(status="cancelled", finished_at=bindparam("now")))
_SETTLE_SENT = (update(deliveries).where(deliveries.c.id.in_(bindparam("ids", expanding=True)))
                .values(status="delivered", attempts=deliveries.c.attempts + 1, reference="replay",
                        finished_at=bindparam("now")))


def settle_due(conn: Connection, now: datetime, members: GroupMembers, limit: int = 10_000) -> int:
    """Every due delivery recorded as a send that succeeded at `now`, without building or sending its message:
    the what-if replay (docs/replay.md), where nothing may be sent. The same rows are cancelled as claim() cancels
    (a page about an incident acknowledged meanwhile, a storm summary with no member left); claiming and
    completing at one instant leaves no room for complete()'s late updates, and nothing fails, so no fallback.
    Returns how many rows it settled."""
    rows = conn.execute(_SETTLE_DUE, {"now": now, "limit": limit}).all()
    if not rows:
        return 0
    groups = _groups(conn, {(r.group_key, r.kind == "storm_summary") for r in rows if r.group_key}, members)
    sent: list[int] = []
    dropped: list[int] = []
    for r in rows:
        if r.group_key:
            wanted = bool(groups[(r.group_key, r.kind == "storm_summary")][0])
        else:
            inc = {"state": r.state} if r.incident_id is not None and r.state is not None else None
            wanted = _still_wanted({"kind": r.kind}, inc)
        (sent if wanted else dropped).append(r.id)
    if dropped:
        conn.execute(_SETTLE_CANCEL, {"ids": dropped, "now": now})
    if sent:
        conn.execute(_SETTLE_SENT, {"ids": sent, "now": now})
    return len(rows)


def renew(conn: Connection, job: Job, worker: str, now: datetime, lease: timedelta) -> bool:
    """Extend `worker`'s claim of a job about to be sent; False when that claim is gone (taken over, finished).

    The claim is identified by worker and attempt number, so a newer claim of the same row (even by this
    worker, after the lease ran out) is never extended by the older one.
    """
    until = now + lease
    took = conn.execute(update(deliveries).where(
        deliveries.c.id == job.row["id"], deliveries.c.claimed_by == worker,
        deliveries.c.attempts == job.row["attempts"], deliveries.c.status == "pending",
        deliveries.c.claimed_until > now).values(claimed_until=until, next_attempt_at=until)).rowcount
    if took:
        job.row["claimed_until"] = until
    return bool(took)


def _groups(conn: Connection, keys: set[tuple[str, bool]],
            members: GroupMembers) -> dict[tuple[str, bool], tuple[list[dict[str, Any]], GroupSummary]]:
    """Members and counts of each storm/digest group in the batch (looked up once per group, not per delivery)."""
    out: dict[tuple[str, bool], tuple[list[dict[str, Any]], GroupSummary]] = {}
    for key, only_triggered in keys:
        rows = members(conn, key, only_triggered)
        out[(key, only_triggered)] = (rows.members, summarize(rows.tally))
    return out


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
        j.alerts = {j.row["incident_id"]: found.get(j.row["incident_id"], [])}


def complete(conn: Connection, outcomes: list[Outcome], now: datetime, worker: str) -> tuple[list[Outcome], int]:
    """Record outcomes of this worker's claims (a claim lost to lease expiry is ignored).

    Returns the outcomes kept and how many follow-up deliveries (fallbacks, late updates) were written.

    Set-based: one locking read of the claims still held, one UPDATE per outcome kind (executemany), one
    INSERT of all timeline rows, one of all follow-up deliveries.
    """
    if not outcomes:
        return [], 0
    held: dict[int, int] = {}
    ids = sorted({o.job.row["id"] for o in outcomes})
    for i in range(0, len(ids), 500):
        q = (select(deliveries.c.id, deliveries.c.attempts)
             .where(deliveries.c.id.in_(ids[i:i + 500]), deliveries.c.claimed_by == worker,
                    deliveries.c.status == "pending").with_for_update())
        held.update({r.id: r.attempts for r in conn.execute(q)})
    kept = [o for o in outcomes if held.pop(o.job.row["id"], None) == o.job.row["attempts"]]
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    events, extra = [], []
    now_state = {i: r["state"] for i, r in incident_rows(conn, [
        o.job.row["incident_id"] for o in kept if o.outcome == "delivered" and o.job.row["kind"] == "trigger"
        and o.job.row["incident_id"] is not None]).items()}
    for o in kept:
        r = o.job.row
        by_kind[o.outcome].append({"b_id": r["id"], "b_attempts": r["attempts"], "b_error": o.error,
                                   "b_reference": o.reference, "b_next": o.next_attempt_at})
        if r["incident_id"] is not None:
            detail = {"delivery": r["id"], "channel": r["channel"], "to": r["responder"] or r["address"],
                      "kind": r["kind"], "attempt": r["attempts"], "outcome": o.outcome}
            detail.update({"error": o.error[:500]} if o.error else {})
            events.append((r["incident_id"], now, "delivery", detail))
        extra += _follow_up(o, now_state.get(r["incident_id"]), now)
    mine = (deliveries.c.id == bindparam("b_id"), deliveries.c.claimed_by == worker,
            deliveries.c.attempts == bindparam("b_attempts"), deliveries.c.status == "pending")
    released: dict[str, Any] = {"claimed_by": None, "claimed_until": None, "last_error": bindparam("b_error")}
    values: dict[str, dict[str, Any]] = {
        "delivered": {"status": "delivered", "reference": bindparam("b_reference"), "finished_at": now},
        "retry": {"next_attempt_at": bindparam("b_next")},
        "failed": {"status": "failed", "finished_at": now},
    }
    for kind, params in by_kind.items():
        conn.execute(update(deliveries).where(*mine).values(**released, **values[kind]), params)
    insert_deliveries(conn, extra)
    add_events(conn, events)
    return kept, len(extra)


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


def insert_deliveries(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert_ignore_cached(conn, deliveries, ["idem_key"]), rows)


def delivery_row(key: str, incident_id: int | None, group_key: str | None, step_seq: int | None, kind: str,
                 channel: str, address: str, responder: str | None, locale: str, severity: str, due: datetime,
                 note: str | None = None, fallback: Sequence[Sequence[str]] = ()) -> dict[str, Any]:
    """A new outbox row, due at `due`."""
    return {"idem_key": key, "incident_id": incident_id, "group_key": group_key, "step_seq": step_seq,
            "kind": kind, "channel": channel, "address": address[:255], "responder": responder,
            "locale": locale, "note": note, "fallback": [list(f) for f in fallback], "severity": severity,
            "status": "pending", "attempts": 0, "due_at": due, "next_attempt_at": due, "claimed_by": None,
            "claimed_until": None, "reference": None, "last_error": None, "created_at": due,
            "finished_at": None}
