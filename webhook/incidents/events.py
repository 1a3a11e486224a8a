"""Extension points that run inside the transaction that changed an incident (escalation, remediation).

Side effects are never performed here: hooks only write rows (outbox, timers, run requests) in the same
transaction, so a crash either keeps both the incident change and its follow-up work, or neither.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from webhook.store.db import Connection


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


@dataclass
class BatchResult:
    """What one committed batch did, for metrics and for the follow-up work (escalation, remediation)."""

    reasons: Counter[str] = field(default_factory=Counter)
    opened: list[tuple[int, str]] = field(default_factory=list)  # (incident id, severity)
    resolved: list[tuple[int, str, float]] = field(default_factory=list)  # (id, severity, seconds open)
    joined: list[int] = field(default_factory=list)  # incidents from before this batch that got a new alert
    #: the opening alert (labels, annotations, fingerprint, starts_at) and final severity of each incident
    #: opened by this batch, so hooks need not read them back
    opened_rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    reopened: list[int] = field(default_factory=list)  # resolved incidents a flapping alert opened again
    truncated: int = 0


class BatchHook(Protocol):
    def on_batch(self, conn: Connection, result: BatchResult, now: datetime) -> None: ...
