"""Notes people add to an incident from the board: timeline entries of kind "note"."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select

from webhook.incidents.model import NotFound
from webhook.incidents.tables import incident_events, incidents

MAX_NOTE = 2000


def add_note(conn: Connection, incident_id: int, actor: str, text: str, now: datetime) -> int:
    """The note's timeline entry id (the board's change marker); NotFound for an unknown incident."""
    if conn.execute(select(incidents.c.id).where(incidents.c.id == incident_id)).first() is None:
        raise NotFound(incident_id)
    q = insert(incident_events).values(incident_id=incident_id, at=now, kind="note", actor=actor[:128],
                                       detail={"text": text[:MAX_NOTE]}).returning(incident_events.c.id)
    return int(conn.execute(q).scalar_one())
