"""One reconcile transaction: fence, close and adopt through the ingest batch (the webhook's own decisions and
hooks), then the timeline entries and the suppression rows."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from webhook.config import TocsinConfig
from webhook.incidents.events import BatchHook, BatchResult
from webhook.incidents.timeline import add_events
from webhook.ingest.batch import ingest_batch
from webhook.ingest.payload import Alert, WebhookPayload
from webhook.ingest.prepare import prepare
from webhook.reconcile import repo
from webhook.reconcile.decide import Held, Listed, Plan, timeline
from webhook.store.db import Connection

Fence = Callable[[Connection], bool]

#: The receipt of a reconcile batch (webhook_receipts.receiver): it came from polling, not from a webhook.
RECEIVER = "tocsin-reconcile"
GONE = "gone from Alertmanager"
ADOPTED = "adopted from Alertmanager (a webhook left it out: max_alerts, truncatedAlerts)"
REFIRED = "adopted from Alertmanager: firing again after it was gone (Alertmanager lost it, then got it back)"


@dataclass
class Applied:
    fenced: bool = False
    closed: int = 0
    adopted: int = 0
    suppression_changes: int = 0
    result: BatchResult | None = None
    events: list[tuple[int, str]] = field(default_factory=list)  # (incident id, kind), for logs and tests


def apply_plan(conn: Connection, todo: Plan, silences: Mapping[str, dict[str, Any]], now: datetime,
               cfg: TocsinConfig, hooks: BatchHook | None, fence: Fence | None) -> Applied:
    """Apply a plan in the caller's transaction. What changed since the plan was read (a webhook resolved the
    alert meanwhile, another path stored the episode) is left alone."""
    if fence is not None and not fence(conn):
        return Applied(fenced=True)
    out = Applied()
    close = repo.held_alerts(conn, only={h.key for h in todo.close}) if todo.close else []
    firing = repo.firing_keys(conn, {a.key for a in todo.adopt}) if todo.adopt else set()
    adopt, refired = _episodes(conn, [a for a in todo.adopt if a.key not in firing])
    gone = [(h.incident_id, now, "gone_from_alertmanager", _detail(h.fingerprint, h.starts_at, GONE)) for h in close]
    add_events(conn, gone)  # before the batch's own "alert_resolved"/"resolved": the cause, then the effect
    if close or adopt:
        payload = prepare(WebhookPayload(version="4", status="firing" if adopt else "resolved", receiver=RECEIVER,
                                         groupKey="reconcile", alerts=[*map(_firing, adopt),
                                                                       *(_resolved(h, now) for h in close)]), cfg)
        # the webhook's own batch: dedup decisions, flapping, and the hooks (escalation, PagerDuty, remediation)
        out.result = ingest_batch(conn, [payload], now, cfg.incidents.flap, hooks)
        where = repo.incidents_of(conn, {a.key for a in adopt})
        add_events(conn, [(where[a.key], now, "adopted_from_alertmanager",
                           _detail(a.fingerprint, a.starts_at, REFIRED if again else ADOPTED))
                          for a, again in zip(adopt, refired, strict=True) if a.key in where])
    out.closed, out.adopted = len(close), len(adopt)
    out.events = [(i, kind) for i, _, kind, _ in gone]
    for change in todo.suppression:
        after = change.after
        details = [silences.get(s, {"id": s}) for s in after.silenced_by] if after is not None else []
        repo.save_suppression(conn, change.incident_id, after, details, now)
        entries = [(change.incident_id, now, kind, {**_silence(d.get("silence_id"), silences), **d})
                   for kind, d in timeline(change)]
        add_events(conn, entries)
        out.events += [(i, kind) for i, _, kind, _ in entries]
    out.suppression_changes = len(todo.suppression)
    return out


def _episodes(conn: Connection, adopt: list[Listed]) -> tuple[list[Listed], list[bool]]:
    """The episodes to store for these alerts. One Tocsin already has, resolved (closed as gone, then sent to
    Alertmanager again with its old startsAt, as Prometheus does after an Alertmanager restart), would be a stale
    firing to the batch: it becomes a new episode a few microseconds later. Episodes are compared at the
    millisecond, so it is still the alert Alertmanager lists."""
    stored = repo.stored_starts(conn, {a.fingerprint for a in adopt})
    out, again = [], []
    for a in adopt:
        starts = a.starts_at
        while (a.fingerprint, starts) in stored and starts.microsecond % 1000 < 999:
            starts += timedelta(microseconds=1)
        out.append(a._replace(starts_at=starts))
        again.append(starts != a.starts_at)
    return out, again


def _detail(fingerprint: str, starts_at: datetime, message: str) -> dict[str, Any]:
    return {"alert": fingerprint, "starts_at": starts_at.isoformat(), "message": message}


def _silence(sid: Any, silences: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    if not isinstance(sid, str):
        return {}
    d = silences.get(sid, {})
    return {"comment": d.get("comment"), "created_by": d.get("created_by"), "ends_at": d.get("ends_at")}


def _firing(a: Listed) -> Alert:
    return Alert(status="firing", labels=dict(a.labels), annotations=dict(a.annotations), startsAt=a.starts_at,
                 endsAt=a.ends_at, generatorURL=a.generator_url, fingerprint=a.fingerprint)


def _resolved(h: Held, now: datetime) -> Alert:
    status: Literal["resolved"] = "resolved"
    return Alert(status=status, labels=dict(h.labels), annotations=dict(h.annotations), startsAt=h.starts_at,
                 endsAt=now, generatorURL=h.generator_url, fingerprint=h.fingerprint)
