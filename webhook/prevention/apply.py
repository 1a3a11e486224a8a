"""One prevention transaction: fence, then the plan through the ingest batch exactly as a webhook from
Alertmanager would go (dedup, flapping, routing, escalation and remediation hooks), then the timeline entries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from webhook.config import TocsinConfig
from webhook.incidents.events import BatchHook, BatchResult
from webhook.incidents.timeline import add_events
from webhook.ingest.batch import ingest_batch
from webhook.ingest.payload import Alert, WebhookPayload
from webhook.ingest.prepare import prepare
from webhook.prevention import repo
from webhook.prevention.decide import Fire, Held, Plan
from webhook.store.db import Connection

Fence = Callable[[Connection], bool]

#: The receipt of a prevention batch (webhook_receipts.receiver): Tocsin's own forecasts, not a webhook.
RECEIVER = "tocsin-forecast"


@dataclass
class Applied:
    fenced: bool = False
    fired: int = 0
    resolved: int = 0
    result: BatchResult | None = None
    events: list[tuple[int, str]] = field(default_factory=list)  # (incident id, kind), for logs and tests


def apply_plan(conn: Connection, todo: Plan, now: datetime, cfg: TocsinConfig, hooks: BatchHook | None,
               fence: Fence | None) -> Applied:
    """Apply a plan in the caller's transaction (a replica that lost the leadership changes nothing)."""
    if fence is not None and not fence(conn):
        return Applied(fenced=True)
    out = Applied(fired=len(todo.fire), resolved=len(todo.resolve))
    before = {h.fingerprint: h.incident_id for h in todo.resolve if h.incident_id is not None}
    # "forecast cleared" goes before the batch's own "alert_resolved"/"resolved": the cause, then the effect
    cleared = [(before[fp], now, kind, d) for fp, kind, d in todo.events if fp in before and kind == "forecast_cleared"]
    add_events(conn, cleared)
    if todo.fire or todo.resolve:
        alerts = [*map(_firing, todo.fire), *(_resolved(h, now) for h in todo.resolve)]
        payload = prepare(WebhookPayload(version="4", status="firing" if todo.fire else "resolved",
                                         receiver=RECEIVER, groupKey="prevention", alerts=alerts), cfg)
        out.result = ingest_batch(conn, [payload], now, cfg.incidents.flap, hooks)
    rest = [(fp, kind, d) for fp, kind, d in todo.events if kind != "forecast_cleared"]
    where = repo.firing_on(conn, {fp for fp, _, _ in rest})
    entries = [(where[fp], now, kind, d) for fp, kind, d in rest if fp in where]
    add_events(conn, entries)
    out.events = [(i, kind) for i, _, kind, _ in [*cleared, *entries]]
    return out


def _firing(f: Fire) -> Alert:
    return Alert(status="firing", labels=dict(f.labels), annotations=dict(f.annotations), startsAt=f.starts_at,
                 generatorURL=f.generator_url, fingerprint=f.fingerprint)


def _resolved(h: Held, now: datetime) -> Alert:
    status: Literal["resolved"] = "resolved"
    return Alert(status=status, labels=dict(h.labels), annotations=dict(h.annotations), startsAt=h.starts_at,
                 endsAt=now, generatorURL=h.generator_url, fingerprint=h.fingerprint)
