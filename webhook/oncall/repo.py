"""Schedule changes in the database: insert, read, the ones that count, compare-and-set state changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, or_, select, update

from webhook.oncall.tables import schedule_changes as sc
from webhook.store.sql import among

#: Changes that take effect; the others are kept for the record only.
EFFECTIVE = ("active", "accepted")
#: Changes listed by the schedules view (effective ones and swaps awaiting consent).
LISTED = ("active", "accepted", "pending")
#: The effective changes covering an interval, built once (the escalation timer asks at every firing).
_EFFECTIVE_AT = (select(sc).where(among(sc.c.state, EFFECTIVE), sc.c.ends_at > bindparam("since"),
                                  sc.c.starts_at <= bindparam("until")).order_by(sc.c.id))


def insert_change(conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
    cid = conn.execute(insert(sc).values(**values).returning(sc.c.id)).scalar_one()
    row = get(conn, int(cid))
    assert row is not None
    return row


def get(conn: Connection, change_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(sc).where(sc.c.id == change_id)).first()
    return None if row is None else dict(row._mapping)


def changes(conn: Connection, since: datetime, states: tuple[str, ...] = EFFECTIVE,
            schedule: str | None = None, until: datetime | None = None) -> list[dict[str, Any]]:
    """Changes in `states` that end after `since` (one range on the index) and, with `until`, start by then;
    oldest first."""
    if states == EFFECTIVE and schedule is None and until is not None:  # the escalation's question, every firing
        return [dict(r._mapping) for r in conn.execute(_EFFECTIVE_AT, {"since": since, "until": until})]
    q = select(sc).where(sc.c.state.in_(states), sc.c.ends_at > since)
    if until is not None:
        q = q.where(sc.c.starts_at <= until)
    if schedule is not None:
        q = q.where(sc.c.schedule == schedule)
    return [dict(r._mapping) for r in conn.execute(q.order_by(sc.c.id))]


def swaps_of(conn: Connection, user: str, since: datetime) -> list[dict[str, Any]]:
    """Pending and accepted swaps that `user` asked for or is asked to agree to (not yet over), oldest first."""
    q = select(sc).where(sc.c.kind == "swap", sc.c.state.in_(("pending", "accepted")), sc.c.ends_at > since,
                         or_(sc.c.user == user, sc.c.other_user == user)).order_by(sc.c.id)
    return [dict(r._mapping) for r in conn.execute(q)]


def set_state(conn: Connection, change_id: int, old: str, new: str, actor: str, now: datetime) -> bool:
    """Move a change from `old` to `new` (compare-and-set: False when someone else moved it first)."""
    done = conn.execute(update(sc).where(sc.c.id == change_id, sc.c.state == old)
                        .values(state=new, decided_by=actor[:128], decided_at=now)).rowcount
    return bool(done == 1)
