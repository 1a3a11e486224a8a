"""Reads of the recorded history (source database) and the replay's own timers (scratch database)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, func, select

from webhook.escalation.repo import DUE_STATES
from webhook.escalation.tables import escalation_steps
from webhook.incidents.tables import alert_journal, alerts, incident_events, incidents
from webhook.notifiers.tables import deliveries
from webhook.windows.tables import maintenance_windows

#: Timeline kinds written by a human's action (acks from every channel, resolves, snoozes), not by a timer.
HUMAN_KINDS = {"acknowledged": "ack", "resolved": "resolve", "snoozed": "snooze"}
#: Actors that are Tocsin itself or Alertmanager, not people.
MACHINE_ACTORS = frozenset({"tocsin", "alertmanager", "remediation"})
#: Added to the annotations of an update so that the replay decides "update" as the recording did (the journal
#: keeps an update's annotations, not the ones before it); messages are not compared, so the text does not matter.
UPDATE_MARK = "tocsin_replay_update"
#: Journal rows read per query: memory stays bounded however long the period.
CHUNK = 5000


@dataclass(frozen=True, slots=True)
class JournalRow:
    id: int
    at: datetime
    fingerprint: str
    starts_at: datetime
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    ends_at: datetime | None
    generator_url: str
    incident_id: int | None


@dataclass(frozen=True, slots=True)
class HumanAction:
    at: datetime
    incident_id: int
    action: str  # ack, resolve, snooze
    actor: str
    until: datetime | None
    note: str


@dataclass(frozen=True, slots=True)
class RecordedIncident:
    id: int
    key: str
    opened_at: datetime
    labels: dict[str, Any]
    severity: str


def journal_chunk(conn: Connection, start: datetime, end: datetime, after: int) -> list[JournalRow]:
    """Up to CHUNK journal rows of [start, end) with id > after, in arrival order, with their episode's labels
    (rows whose episode retention deleted are left out: they belong to incidents no longer stored)."""
    j, a = alert_journal.c, alerts.c
    rows = conn.execute(
        select(j.id, j.at, j.fingerprint, j.starts_at, j.status, j.ends_at, j.reason, j.incident_id,
               j.annotations.label("changed"), a.labels, a.annotations, a.generator_url)
        .join(alerts, (a.fingerprint == j.fingerprint) & (a.starts_at == j.starts_at))
        .where(j.at >= start, j.at < end, j.id > after).order_by(j.id).limit(CHUNK)).all()
    out = []
    for r in rows:
        annotations = dict(r.annotations)
        if r.changed is not None:  # an update: what changed must differ from what the replay stored before
            annotations = {**dict(r.changed), UPDATE_MARK: str(r.id)}
        out.append(JournalRow(r.id, r.at, r.fingerprint, r.starts_at, r.status, dict(r.labels), annotations,
                              r.ends_at, r.generator_url, r.incident_id))
    return out


def journal_count(conn: Connection, start: datetime, end: datetime) -> int:
    j = alert_journal.c
    return int(conn.execute(select(func.count()).where(j.at >= start, j.at < end)).scalar_one())


def journal_bounds(conn: Connection) -> tuple[datetime | None, datetime | None, int]:
    j = alert_journal.c
    first, last, n = conn.execute(select(func.min(j.at), func.max(j.at), func.count())).one()
    return first, last, int(n)


def human_actions(conn: Connection, start: datetime, end: datetime) -> list[HumanAction]:
    e = incident_events.c
    rows = conn.execute(select(e.at, e.incident_id, e.kind, e.actor, e.detail).where(
        e.at >= start, e.at < end, e.kind.in_(list(HUMAN_KINDS)), e.actor.not_in(list(MACHINE_ACTORS)))
        .order_by(e.at, e.id)).all()
    out = []
    for r in rows:
        detail = r.detail or {}
        until = detail.get("until")
        out.append(HumanAction(r.at, r.incident_id, HUMAN_KINDS[r.kind], r.actor,
                               datetime.fromisoformat(until) if isinstance(until, str) else None,
                               str(detail.get("note") or "")))
    return out


def incidents_opened(conn: Connection, start: datetime, end: datetime) -> dict[int, RecordedIncident]:
    i = incidents.c
    rows = conn.execute(select(i.id, i.incident_key, i.opened_at, i.labels, i.severity).where(
        i.opened_at >= start, i.opened_at < end)).all()
    return {r.id: RecordedIncident(r.id, r.incident_key, r.opened_at, dict(r.labels), r.severity) for r in rows}


def sent(conn: Connection, incident_ids: set[int] | None = None, start: datetime | None = None,
         end: datetime | None = None) -> list[dict[str, Any]]:
    """Deliveries that went out (status delivered), oldest first: the notification log compared."""
    d = deliveries.c
    q = select(d.id, d.incident_id, d.group_key, d.step_seq, d.kind, d.channel, d.address, d.responder, d.severity,
               d.due_at, d.finished_at).where(d.status == "delivered")
    if start is not None and end is not None:
        q = q.where(d.due_at >= start, d.due_at < end)
    rows = [dict(r._mapping) for r in conn.execute(q.order_by(d.due_at, d.id))]
    return rows if incident_ids is None else [r for r in rows if r["incident_id"] in incident_ids]


class Timers(NamedTuple):
    """When each kind of timer of the scratch database is next due (None: none pending)."""

    step: datetime | None
    delivery: datetime | None
    snooze: datetime | None
    quiet: datetime | None

    def first(self) -> datetime | None:
        found = [t for t in self if t is not None]
        return min(found) if found else None


_TIMERS = select(
    select(func.min(escalation_steps.c.due_at)).where(escalation_steps.c.state.in_(DUE_STATES)).scalar_subquery(),
    select(func.min(deliveries.c.next_attempt_at)).where(deliveries.c.status == "pending").scalar_subquery(),
    select(func.min(incidents.c.snoozed_until)).where(incidents.c.state == "snoozed").scalar_subquery(),
    # open states listed (not `!= resolved`): the state index finds the few open incidents among many
    select(func.min(incidents.c.resolve_after)).where(incidents.c.state.in_(["triggered", "acknowledged", "snoozed"]),
                                                      incidents.c.firing_alerts == 0).scalar_subquery(),
)


#: _TIMERS as the scratch database's SQL, its constant lists inlined: the replay asks after every batch and action,
#: and expanding the IN lists was most of the statement's cost.
_TIMERS_SQL: dict[str, str] = {}


def next_timers(conn: Connection) -> Timers:
    """Every timer of the scratch database in one statement: a step, a delivery, a snooze, a quiet period."""
    sql = _TIMERS_SQL.get(conn.dialect.name)
    if sql is None:
        sql = _TIMERS_SQL[conn.dialect.name] = str(_TIMERS.compile(dialect=conn.dialect,
                                                                   compile_kwargs={"literal_binds": True}))
    row = conn.exec_driver_sql(sql).one()
    return Timers(*(_aware(v) for v in row))


def _aware(v: object) -> datetime | None:
    """min() over a UTCDateTime column comes back as SQLite's text: parsed like the column type does."""
    if v is None:
        return None
    if isinstance(v, datetime):
        return v if v.tzinfo is not None else v.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(v))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def open_incident_by_key(conn: Connection) -> dict[tuple[str, datetime], int]:
    i = incidents.c
    return {(r.incident_key, r.opened_at): r.id for r in conn.execute(select(i.id, i.incident_key, i.opened_at))}


def incident_at(conn: Connection, key: str, opened_at: datetime) -> int | None:
    i = incidents.c
    return conn.execute(select(i.id).where(i.incident_key == key, i.opened_at == opened_at)
                        .order_by(i.id).limit(1)).scalar()


def warm_start(conn: Connection, start: datetime, lookback: timedelta) -> datetime:
    """Where the replay must begin so that `start` sees the same state as the recording: the opening of the
    oldest incident still open at `start`, and at least `lookback` (the flap window) before it."""
    i = incidents.c
    oldest = conn.execute(select(func.min(i.opened_at)).where(
        i.opened_at < start, (i.resolved_at.is_(None)) | (i.resolved_at >= start))).scalar()
    begin = start - lookback
    return min(begin, oldest) if oldest is not None else begin


def windows(conn: Connection) -> list[dict[str, Any]]:
    """Every maintenance window someone set (few): replayed as they were, like the people's actions."""
    return [dict(r._mapping) for r in conn.execute(select(maintenance_windows).order_by(maintenance_windows.c.id))]


def copy_windows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(maintenance_windows.insert(), rows)
