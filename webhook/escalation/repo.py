"""Escalation runs and step timers: create, claim due steps (SKIP LOCKED), stop, pause, resume; timeline entries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from webhook.escalation.tables import escalation_runs, escalation_steps, rate_counters
from webhook.incidents.tables import incidents
from webhook.notifiers.outbox_repo import GroupRows
from webhook.notifiers.tables import deliveries
from webhook.store.sql import among, insert_ignore_cached

#: Step states the timer claims when due: pending, and held (deferred while a runbook works on the incident).
DUE_STATES = ("pending", "held")
#: Delivery kinds that page (cancelled when the incident is acknowledged or resolved before they go out).
PAGING_KINDS = ("trigger", "reminder", "storm_summary")

# The statements of the timer's hot path, built once (building them cost more than running them on SQLite).
_T, _R, _D = escalation_steps.c, escalation_runs.c, deliveries.c
_CLAIM = (select(escalation_steps).where(among(_T.state, DUE_STATES), _T.due_at <= bindparam("now"))
          .order_by(_T.due_at).limit(bindparam("limit")).with_for_update(skip_locked=True))
_RUNS_BY_ID = select(escalation_runs).where(_R.id.in_(bindparam("ids", expanding=True)))
_MARK = update(escalation_steps).where(_T.id == bindparam("step_id")).values(
    state=bindparam("new_state"), fired_at=bindparam("new_fired_at"), fired_by=bindparam("new_fired_by"))
_STOP_STEPS = (update(escalation_steps).where(_T.incident_id == bindparam("iid"),
                                              among(_T.state, ("pending", "paused", "held")))
               .values(state="cancelled"))
_STOP_RUNS = (update(escalation_runs).where(_R.incident_id == bindparam("iid"), _R.state == "active")
              .values(state="stopped", updated_at=bindparam("now")))
_HOLD = update(escalation_steps).where(_T.id == bindparam("step_id")).values(state="held",
                                                                            due_at=bindparam("until"))
_CANCEL_PAGING = (update(deliveries).where(_D.incident_id == bindparam("iid"), _D.status == "pending",
                                           among(_D.kind, PAGING_KINDS), _D.claimed_by.is_(None))
                  .values(status="cancelled", finished_at=bindparam("now")))
_REACHED = (select(_D.channel, _D.address, _D.responder, _D.locale)
            .where(_D.incident_id == bindparam("iid"), _D.status == "delivered", among(_D.kind, PAGING_KINDS))
            .distinct())
_RATE_KEY = (rate_counters.c.subject == bindparam("subject_"), rate_counters.c.channel == bindparam("channel_"),
             rate_counters.c.window_start == bindparam("window_"))
_RATE_TAKE = update(rate_counters).where(*_RATE_KEY, rate_counters.c.count < bindparam("limit_")).values(
    count=rate_counters.c.count + 1)
_RATE_EXEMPT = update(rate_counters).where(*_RATE_KEY).values(count=rate_counters.c.count + 1)
_TEAM_COUNTS = (select(_R.team, func.count(func.distinct(_R.incident_id)))
                .where(_R.team.in_(bindparam("names", expanding=True)), _R.opened_at >= bindparam("since"))
                .group_by(_R.team))
_INSERT_RUNS = insert(escalation_runs).returning(_R.id, _R.incident_id, _R.policy, sort_by_parameter_order=True)


def team_counts_since(conn: Connection, teams: Iterable[str], since: datetime) -> dict[str, int]:
    """Runs opened per team since `since` (storm detection); uses the (team, opened_at) index."""
    names = sorted(set(teams))
    if not names:
        return {}
    return {r[0]: int(r[1]) for r in conn.execute(_TEAM_COUNTS, {"names": names, "since": since})}


def insert_runs(conn: Connection, rows: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    """(run id, incident id, policy) of the inserted runs."""
    if not rows:
        return []
    return [(r[0], r[1], r[2]) for r in conn.execute(_INSERT_RUNS, rows)]


def insert_steps(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert_ignore_cached(conn, escalation_steps, ["run_id", "seq"]), rows)


def claim_due_steps(conn: Connection, now: datetime, limit: int) -> list[dict[str, Any]]:
    """Due pending steps, locked for this transaction; other replicas skip them (PostgreSQL), SQLite serialises."""
    return [dict(r._mapping) for r in conn.execute(_CLAIM, {"now": now, "limit": limit})]


def runs_by_id(conn: Connection, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    return {r.id: dict(r._mapping) for r in conn.execute(_RUNS_BY_ID, {"ids": sorted(set(ids))})}


def mark_step(conn: Connection, step_id: int, state: str, now: datetime, worker: str | None = None) -> None:
    conn.execute(_MARK, {"step_id": step_id, "new_state": state, "new_fired_at": now if state == "fired" else None,
                         "new_fired_by": worker})


def stop(conn: Connection, incident_id: int, now: datetime) -> int:
    """Ack or resolve: pending and paused steps are cancelled, runs stopped. Returns steps cancelled."""
    n = conn.execute(_STOP_STEPS, {"iid": incident_id}).rowcount
    conn.execute(_STOP_RUNS, {"iid": incident_id, "now": now})
    return int(n or 0)


def pause(conn: Connection, incident_id: int, now: datetime) -> int:
    n = conn.execute(update(escalation_steps).where(
        escalation_steps.c.incident_id == incident_id, escalation_steps.c.state.in_(DUE_STATES))
        .values(state="paused", paused_at=now)).rowcount
    return int(n or 0)


def hold_step(conn: Connection, step_id: int, until: datetime) -> None:
    """A due step of an incident a runbook works on waits for the end of the hold (deferred, not dropped)."""
    conn.execute(_HOLD, {"step_id": step_id, "until": until})


def release_held(conn: Connection, incident_id: int, now: datetime) -> int:
    """The run finished needing a human: held steps are due now (the escalation resumes on the next tick)."""
    n = conn.execute(update(escalation_steps).where(
        escalation_steps.c.incident_id == incident_id, escalation_steps.c.state == "held")
        .values(state="pending", due_at=now)).rowcount
    return int(n or 0)


def reschedule_held(conn: Connection, incident_id: int, until: datetime) -> int:
    """A run's hold now ends at `until` (a verified run keeps it for verified_grace only): held steps are due
    then, not at the end of the hold they were deferred to; a hold still in force defers them again."""
    n = conn.execute(update(escalation_steps).where(
        escalation_steps.c.incident_id == incident_id, escalation_steps.c.state == "held")
        .values(due_at=until)).rowcount
    return int(n or 0)


def resume(conn: Connection, incident_id: int, now: datetime) -> int:
    """Paused steps continue with the time they had left when the snooze started."""
    rows = conn.execute(select(escalation_steps.c.id, escalation_steps.c.due_at, escalation_steps.c.paused_at)
                        .where(escalation_steps.c.incident_id == incident_id,
                               escalation_steps.c.state == "paused")).all()
    for r in rows:
        left = max(r.due_at - (r.paused_at or now), timedelta(0))
        conn.execute(update(escalation_steps).where(escalation_steps.c.id == r.id)
                     .values(state="pending", due_at=now + left, paused_at=None))
    return len(rows)


def restart(conn: Connection, incident_id: int, now: datetime) -> int:
    """Escalation stopped by an ack starts over from the first step (the incident was snoozed, then woke)."""
    runs = conn.execute(select(escalation_runs.c.id).where(escalation_runs.c.incident_id == incident_id)).all()
    rows = []
    for (run_id,) in runs:
        top = conn.execute(select(func.max(escalation_steps.c.seq)).where(escalation_steps.c.run_id == run_id))
        seq = top.scalar()
        if seq is None:
            continue  # a digest-only policy has no steps to restart
        rows.append({"run_id": run_id, "incident_id": incident_id, "seq": int(seq) + 1, "step_index": 0,
                     "cycle": 0, "rep": 0, "due_at": now, "state": "pending"})
    insert_steps(conn, rows)
    if rows:
        conn.execute(update(escalation_runs).where(escalation_runs.c.incident_id == incident_id)
                     .values(state="active", updated_at=now))
    return len(rows)


def cancel_paging(conn: Connection, incident_id: int, now: datetime) -> int:
    """Pages not yet sent are dropped (a claim in flight finishes and then gets a state update)."""
    n = conn.execute(_CANCEL_PAGING, {"iid": incident_id, "now": now}).rowcount
    return int(n or 0)


def paged(conn: Connection, incident_id: int) -> bool:
    """True once a step of the incident's escalation fired (somebody was paged)."""
    q = select(escalation_steps.c.id).where(escalation_steps.c.incident_id == incident_id,
                                            escalation_steps.c.state == "fired").limit(1)
    return conn.execute(q).first() is not None


def reached(conn: Connection, incident_id: int) -> list[dict[str, Any]]:
    """Every (channel, address) that a page about this incident reached, with its person and locale."""
    return [dict(r._mapping) for r in conn.execute(_REACHED, {"iid": incident_id})]


def take_rate(conn: Connection, subject: str, channel: str, window_start: datetime, limit: int, *,
              exempt: bool = False) -> bool:
    """Count one use of `channel` for `subject` in this window; False (not counted) when the limit is reached.

    `exempt` (a page no limit may hold back): counted all the same, so later pages see the budget it used.
    """
    conn.execute(insert_ignore_cached(conn, rate_counters, ["subject", "channel", "window_start"]),
                 [{"subject": subject, "channel": channel, "window_start": window_start, "count": 0}])
    key = {"subject_": subject, "channel_": channel, "window_": window_start}
    took = conn.execute(_RATE_EXEMPT, key) if exempt else conn.execute(_RATE_TAKE, {**key, "limit_": limit})
    return bool(took.rowcount)


def has_paged(conn: Connection, incident_id: int, channel: str, address: str) -> bool:
    """Whether a page about this incident was written for this channel and address before (sent or not)."""
    q = select(deliveries.c.id).where(deliveries.c.incident_id == incident_id, deliveries.c.channel == channel,
                                      deliveries.c.address == address, deliveries.c.kind.in_(PAGING_KINDS)).limit(1)
    return conn.execute(q).first() is not None


def delivery_exists(conn: Connection, idem_key: str) -> bool:
    return conn.execute(select(deliveries.c.id).where(deliveries.c.idem_key == idem_key)).first() is not None


def due_backlog(conn: Connection, now: datetime) -> int:
    q = select(func.count()).select_from(escalation_steps).where(
        escalation_steps.c.state.in_(DUE_STATES), escalation_steps.c.due_at <= now)
    return int(conn.execute(q).scalar_one())


def outbox_pending(conn: Connection) -> list[tuple[str, int]]:
    q = (select(deliveries.c.channel, func.count()).where(deliveries.c.status == "pending")
         .group_by(deliveries.c.channel))
    return [(r[0], int(r[1])) for r in conn.execute(q)]


def gauges(conn: Connection, now: datetime) -> tuple[int, list[tuple[str, int]]]:
    """(escalation steps due but not fired, pending deliveries per channel) for /metrics."""
    return due_backlog(conn, now), outbox_pending(conn)


MAX_GROUP = 500


def group_members(conn: Connection, key: str, only_triggered: bool) -> GroupRows:
    """The incidents collected into a storm or digest (their runs carry its key): the first 500 in full,
    oldest first, for messages that list them, and severity and labels of all of them for the counts."""
    members = (select(incidents).join(escalation_runs, escalation_runs.c.incident_id == incidents.c.id)
               .where(escalation_runs.c.group_key == key).order_by(incidents.c.id).limit(MAX_GROUP))
    ids = select(escalation_runs.c.incident_id).where(escalation_runs.c.group_key == key)
    tally = select(incidents.c.severity, incidents.c.labels).where(incidents.c.id.in_(ids))
    if only_triggered:
        members = members.where(incidents.c.state == "triggered")
        tally = tally.where(incidents.c.state == "triggered")
    rows = list({r.id: dict(r._mapping) for r in conn.execute(members)}.values())
    return GroupRows(rows, [(str(r.severity), dict(r.labels or {})) for r in conn.execute(tally)])
