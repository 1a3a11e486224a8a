"""Writes of the report feature: a person's "was this actionable?" answer, with its timeline entry."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from webhook.incidents.model import NotFound
from webhook.incidents.tables import incident_events, incident_feedback, incidents

CHANNELS = ("api", "console", "slack")


def set_feedback(conn: Connection, incident_id: int, person: str, actionable: bool, channel: str,
                 now: datetime) -> dict[str, object]:
    """Store (or replace: the latest answer of a person wins) the answer and note it on the timeline."""
    if conn.execute(select(incidents.c.id).where(incidents.c.id == incident_id)).first() is None:
        raise NotFound(incident_id)
    values = {"incident_id": incident_id, "person": person[:128], "actionable": actionable, "channel": channel,
              "at": now}
    ins = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(incident_feedback).values(**values)
    conn.execute(ins.on_conflict_do_update(index_elements=["incident_id", "person"],
                                           set_={"actionable": actionable, "channel": channel, "at": now}))
    conn.execute(insert(incident_events).values(incident_id=incident_id, at=now, kind="feedback", actor=person[:128],
                                                detail={"actionable": actionable, "channel": channel}))
    return {"id": incident_id, "actionable": actionable, "by": person}
