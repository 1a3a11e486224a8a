"""Extension points that run inside the transaction that changed an incident (escalation, remediation).

Side effects are never performed here: hooks only write rows (outbox, timers, run requests) in the same
transaction, so a crash either keeps both the incident change and its follow-up work, or neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection

from webhook.ingest.batch import BatchResult


class IncidentHooks(Protocol):
    def on_batch(self, conn: Connection, result: BatchResult, now: datetime) -> None:
        """After an ingest batch applied its decisions (incidents opened, joined, resolved)."""

    def on_action(self, conn: Connection, incident_id: int, action: str, actor: str, now: datetime,
                  detail: dict[str, Any]) -> None:
        """After a state change by a human or a timer: ack, resolve, snooze, unsnooze."""


class Hooks:
    """Calls each hook in order; an exception aborts the transaction (nothing half-done is kept)."""

    def __init__(self, hooks: Sequence[IncidentHooks] = ()) -> None:
        self._hooks = list(hooks)

    def add(self, hook: IncidentHooks) -> None:
        self._hooks.append(hook)

    def on_batch(self, conn: Connection, result: BatchResult, now: datetime) -> None:
        for h in self._hooks:
            h.on_batch(conn, result, now)

    def on_action(self, conn: Connection, incident_id: int, action: str, actor: str, now: datetime,
                  detail: dict[str, Any]) -> None:
        for h in self._hooks:
            h.on_action(conn, incident_id, action, actor, now, detail)
