"""Human and timer actions on incidents (ack, resolve, snooze, wake-up, quiet resolve) with their timeline entries.

Every change is compare-and-set: the UPDATE names the state it expects, so a change committed meanwhile by
ingest, another replica or a timer is never overwritten (review finding 1). The callers' transactions also
hold the write lock from their first read (SQLite BEGIN IMMEDIATE, PostgreSQL FOR UPDATE).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, insert, select, update

from webhook.incidents.model import OPEN_STATES, NotFound, State, TransitionError, transition
from webhook.incidents.tables import incident_events, incidents


class ActionHook(Protocol):
    def on_action(self, conn: Connection, incident_id: int, action: str, actor: str, now: datetime,
                  detail: dict[str, Any]) -> None: ...


def act(conn: Connection, incident_id: int, action: str, actor: str, now: datetime,
        until: datetime | None = None, note: str = "", hooks: ActionHook | None = None) -> dict[str, Any]:
    """Apply ack/resolve/snooze by `actor`; the row lock keeps concurrent replicas from racing."""
    q = select(incidents.c.state, incidents.c.opened_at, incidents.c.acked_at).where(incidents.c.id == incident_id)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).first()
    if row is None:
        raise NotFound(incident_id)
    state = State(row.state)
    if action == "ack" and state is State.ACKNOWLEDGED:
        return {"state": state.value, "changed": False}  # idempotent: a second ack from another channel
    if action == "resolve" and state is State.RESOLVED:
        return {"state": state.value, "changed": False}
    nxt = transition(state, action)
    values: dict[str, Any] = {"state": nxt.value, "updated_at": now}
    if action == "ack":
        values.update(acked_at=now, acked_by=actor, snoozed_until=None)
    elif action == "resolve":
        values.update(resolved_at=now, resolved_by=actor, resolve_after=None, snoozed_until=None)
    elif action == "snooze":
        if until is None or until <= now:
            raise TransitionError("snooze needs a time in the future")
        values.update(snoozed_until=until)
    changed = conn.execute(update(incidents).where(incidents.c.id == incident_id,
                                                   incidents.c.state == state.value).values(**values))
    if changed.rowcount != 1:
        raise TransitionError(f"incident {incident_id} changed meanwhile (no longer {state.value}); try again")
    detail: dict[str, Any] = {"from": state.value, "to": nxt.value}
    if until is not None:
        detail["until"] = until.isoformat()
    if note:
        detail["note"] = note[:2000]
    kind = {"ack": "acknowledged", "resolve": "resolved", "snooze": "snoozed"}.get(action, action)
    conn.execute(insert(incident_events).values(incident_id=incident_id, at=now, kind=kind, actor=actor,
                                                detail=detail))
    if hooks is not None:
        hooks.on_action(conn, incident_id, action, actor, now, detail)
    first_ack = action == "ack" and row.acked_at is None
    return {"state": nxt.value, "changed": True, "opened_at": row.opened_at, "first_ack": first_ack}


def wake_snoozed(conn: Connection, now: datetime, hooks: ActionHook | None = None) -> list[int]:
    """Snoozed incidents whose time is up go back to triggered."""
    due = (incidents.c.state == State.SNOOZED.value, incidents.c.snoozed_until <= now)
    ids = [r.id for r in conn.execute(select(incidents.c.id).where(*due).order_by(incidents.c.id))]
    woken = []
    for i in ids:  # a resolve committed since the SELECT leaves the row alone (compare-and-set)
        if conn.execute(update(incidents).where(incidents.c.id == i, *due).values(
                state=State.TRIGGERED.value, snoozed_until=None, updated_at=now)).rowcount != 1:
            continue
        woken.append(i)
        conn.execute(insert(incident_events).values(incident_id=i, at=now, kind="unsnoozed", actor="tocsin",
                                                    detail={}))
        if hooks is not None:
            hooks.on_action(conn, i, "unsnooze", "tocsin", now, {})
    return woken


def resolve_quiet(conn: Connection, now: datetime, hooks: ActionHook | None = None) -> list[int]:
    """Flapping incidents whose alerts stayed resolved for the quiet period resolve now."""
    quiet = (incidents.c.state.in_([s.value for s in OPEN_STATES]), incidents.c.firing_alerts == 0,
             incidents.c.resolve_after.is_not(None), incidents.c.resolve_after <= now)
    ids = [r.id for r in conn.execute(select(incidents.c.id).where(*quiet).order_by(incidents.c.id))]
    resolved = []
    for i in ids:  # an alert that fired again since the SELECT keeps the incident open (compare-and-set)
        if conn.execute(update(incidents).where(incidents.c.id == i, *quiet).values(
                state=State.RESOLVED.value, resolved_at=now, resolved_by="tocsin", resolve_after=None,
                updated_at=now)).rowcount != 1:
            continue
        resolved.append(i)
        detail = {"reason": "quiet period after flapping"}
        conn.execute(insert(incident_events).values(incident_id=i, at=now, kind="resolved", actor="tocsin",
                                                    detail=detail))
        if hooks is not None:
            hooks.on_action(conn, i, "resolve", "tocsin", now, detail)
    return resolved
