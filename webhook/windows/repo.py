"""Windows in the database: create, read, end now; the open incidents a window covers; timeline entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, or_, select, update

from webhook.incidents.tables import incident_events, incidents
from webhook.windows.model import Window, from_row, recurrence_json
from webhook.windows.spec import WindowSpec
from webhook.windows.tables import maintenance_windows as mw

#: Windows listed at most (newest first).
MAX_LIST = 500


class WindowNotFound(LookupError):
    pass


class WindowOver(Exception):
    """`end now` on a window that already ended."""


def create(conn: Connection, spec: WindowSpec, actor: str, now: datetime,
           incident_id: int | None = None) -> Window:
    values: dict[str, Any] = {
        "comment": spec.comment, "matchers": [str(m) for m in spec.matchers], "starts_at": spec.starts_at,
        "ends_at": spec.ends_at, "recurrence": recurrence_json(spec.recurrence),
        "timezone": spec.recurrence.timezone if spec.recurrence else "UTC", "created_by": actor[:128],
        "created_at": now, "incident_id": incident_id}
    wid = conn.execute(insert(mw).values(**values).returning(mw.c.id)).scalar_one()
    return get(conn, int(wid))


def get(conn: Connection, window_id: int) -> Window:
    row = conn.execute(select(mw).where(mw.c.id == window_id)).first()
    if row is None:
        raise WindowNotFound(window_id)
    return from_row(dict(row._mapping))


#: current()'s statement, built once: the escalation timer asks at every firing.
_CURRENT = select(mw).where(or_(mw.c.ended_at.is_(None), mw.c.ended_at > bindparam("now")),
                            or_(mw.c.ends_at.is_(None), mw.c.ends_at > bindparam("now"))).order_by(mw.c.id)


def current(conn: Connection, now: datetime) -> list[Window]:
    """Every window that is active now or may be later (not ended, not past its end): what holds consult."""
    return [from_row(dict(r._mapping)) for r in conn.execute(_CURRENT, {"now": now})]


def listing(conn: Connection, now: datetime, *, everything: bool = False) -> list[Window]:
    """Current and upcoming windows, or with `everything` the last MAX_LIST of all (newest first)."""
    if not everything:
        return sorted(current(conn, now), key=lambda w: -w.id)
    return [from_row(dict(r._mapping)) for r in conn.execute(select(mw).order_by(mw.c.id.desc()).limit(MAX_LIST))]


def end(conn: Connection, window_id: int, actor: str, now: datetime) -> Window:
    """End a window now (compare-and-set: a second `end` is refused, not repeated)."""
    w = get(conn, window_id)
    if w.over(now):
        raise WindowOver(f"window #{window_id} is already over")
    done = conn.execute(update(mw).where(mw.c.id == window_id, or_(mw.c.ended_at.is_(None), mw.c.ended_at > now))
                        .values(ended_at=now, ended_by=actor[:128])).rowcount
    if done != 1:
        raise WindowOver(f"window #{window_id} is already over")
    return get(conn, window_id)


def mirror_todo(conn: Connection, now: datetime) -> list[Window]:
    """Windows the Alertmanager mirror looks at: not over yet, or over with a silence still live in Alertmanager."""
    live = mw.c.mirror_until > now
    q = select(mw).where(or_(and_(or_(mw.c.ended_at.is_(None), mw.c.ended_at > now),
                                  or_(mw.c.ends_at.is_(None), mw.c.ends_at > now)), live)).order_by(mw.c.id)
    return [from_row(dict(r._mapping)) for r in conn.execute(q)]


def set_mirror(conn: Connection, window_id: int, state: str, error: str | None, silence_id: str | None,
               until: datetime | None) -> None:
    conn.execute(update(mw).where(mw.c.id == window_id).values(
        mirror_state=state, mirror_error=error[:500] if error else None, alertmanager_silence_id=silence_id,
        mirror_until=until))


def open_incidents_covered(conn: Connection, window: Window) -> list[int]:
    """Ids of the triggered incidents whose labels the window's matchers cover (oldest first)."""
    q = select(incidents.c.id, incidents.c.labels).where(incidents.c.state == "triggered").order_by(incidents.c.id)
    return [r.id for r in conn.execute(q) if window.covers(dict(r.labels or {}))]


def covering_incident(conn: Connection, incident_id: int, now: datetime) -> list[Window]:
    """Windows active now that cover the incident's labels (the incident API's `windows`)."""
    labels = conn.execute(select(incidents.c.labels).where(incidents.c.id == incident_id)).scalar()
    if labels is None:
        return []
    return [w for w in current(conn, now) if w.active(now) and w.covers(dict(labels))]


def add_event(conn: Connection, incident_id: int, at: datetime, kind: str, actor: str,
              detail: dict[str, Any]) -> None:
    conn.execute(insert(incident_events).values(incident_id=incident_id, at=at, kind=kind, actor=actor[:128],
                                                detail=detail))


def incident_labels(conn: Connection, incident_id: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(key labels, labels) of an incident, None when there is no such incident."""
    row = conn.execute(select(incidents.c.key_labels, incidents.c.labels).where(incidents.c.id == incident_id)).first()
    return None if row is None else (dict(row.key_labels or {}), dict(row.labels or {}))
