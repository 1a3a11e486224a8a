"""The incident timeline: one writer of incident_events rows for every feature."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert

from webhook.incidents.tables import incident_events

_INSERT = insert(incident_events)  # built once: every feature's hot path writes events


def add_events(conn: Connection, rows: Iterable[tuple[int, datetime, str, dict[str, Any]]]) -> None:
    values = [{"incident_id": i, "at": at, "kind": kind, "actor": "tocsin", "detail": d} for i, at, kind, d in rows]
    if values:
        conn.execute(_INSERT, values)
