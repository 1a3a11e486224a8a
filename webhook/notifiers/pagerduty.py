"""PagerDuty Events API v2: trigger, acknowledge and resolve one alert per incident (dedup_key = the incident id
and key, so every incident episode is its own PagerDuty alert)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp

from webhook.notifiers.base import (
    Delivered,
    DeliveryResult,
    IncidentState,
    IncidentView,
    Message,
    MessageKind,
    Permanent,
    Retryable,
    Severity,
    parse_retry_after,
)
from webhook.notifiers.render import Renderer, truncate

log = logging.getLogger(__name__)

#: PagerDuty rejects events over 512 KiB; stay well below so headers and escaping never tip it over.
MAX_EVENT_BYTES = 500_000
MAX_DEDUP_KEY = 255
MAX_STRING = 2_000
JSON_HEADERS = {"Content-Type": "application/json"}
PD_SEVERITY = {Severity.CRITICAL: "critical", Severity.HIGH: "error", Severity.MEDIUM: "warning",
               Severity.LOW: "info"}


def dedup_key(incident_id: str, incident_key: str) -> str:
    """`tocsin-<incident id>:<incident key>` (the key digested when that exceeds PagerDuty's 255 characters).

    The incident key alone is shared by every incident of one alert group: a late resolve or acknowledge of
    the previous incident would then resolve the next one's page in PagerDuty (which deduplicates a trigger
    into the open alert of the same key). The id makes the key one incident episode's; the key keeps it
    unique across Tocsin installations sending to the same service and readable in PagerDuty.
    """
    key = f"tocsin-{incident_id}:{incident_key}"
    if len(key) <= MAX_DEDUP_KEY:
        return key
    return f"tocsin-{incident_id}:" + hashlib.sha256(incident_key.encode()).hexdigest()


def event_key(msg: Message) -> str:
    """The dedup_key of this message's PagerDuty alert.

    An incident already paged keeps the key PagerDuty answered its first event with (the delivery's
    reference), so acknowledge and resolve always reach the alert that was triggered, also one triggered
    before an upgrade changed how keys are made.
    """
    if msg.incident is None:
        ids = ",".join(sorted(i.id for i in msg.incidents))
        return "tocsin-storm-" + hashlib.sha256(ids.encode()).hexdigest()[:32]
    if msg.previous_reference and len(msg.previous_reference) <= MAX_DEDUP_KEY:
        return msg.previous_reference
    return dedup_key(msg.incident.id, msg.incident.incident_key)


def event_action(msg: Message) -> str | None:
    """trigger / acknowledge / resolve for this message; None when PagerDuty has no use for it (digests)."""
    if msg.kind is MessageKind.DIGEST:
        return None
    if msg.kind is MessageKind.ACK:
        return "acknowledge"
    if msg.kind is MessageKind.RESOLVE:
        return "resolve"
    if msg.incident is not None and msg.kind is not MessageKind.STORM_SUMMARY:
        # PagerDuty has no snooze: acknowledging pauses its notifications the same way
        return {IncidentState.ACKNOWLEDGED: "acknowledge", IncidentState.SNOOZED: "acknowledge",
                IncidentState.RESOLVED: "resolve"}.get(msg.incident.state, "trigger")
    return "trigger"


def _short(value: str) -> str:
    return truncate(value, MAX_STRING)


def _size(obj: object) -> int:
    return len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())


def custom_details(view: IncidentView, budget: int) -> dict[str, Any]:
    """Incident details that fit in `budget` bytes: long strings cut, then the alert list shortened.

    Deterministic (same incident, same output), so a repeated trigger does not look like a change.
    """
    details: dict[str, Any] = {
        "incident": view.code, "state": view.state.value, "alert_count": view.alert_count,
        "flapping": view.flapping, "description": truncate(view.description, 8 * MAX_STRING),
        "labels": {k: _short(v) for k, v in sorted(view.labels.items())},
        "annotations": {k: _short(v) for k, v in sorted(view.annotations.items())},
        "timeline": [f"{e.at.isoformat()} {_short(e.text)}" for e in view.timeline[-20:]],
    }
    alerts = [{k: _short(v) for k, v in sorted(a.items())} for a in view.alerts]
    if _size({**details, "alerts": alerts}) <= budget:
        return {**details, "alerts": alerts} if alerts else details
    low, high = 0, len(alerts)  # largest prefix of the alert list that still fits
    while low < high:
        mid = (low + high + 1) // 2
        if _size({**details, "alerts": alerts[:mid], "alerts_omitted": len(alerts) - mid}) <= budget:
            low = mid
        else:
            high = mid - 1
    trimmed = {**details, "alerts": alerts[:low], "alerts_omitted": len(alerts) - low}
    if _size(trimmed) <= budget:
        return trimmed
    return {"incident": view.code, "state": view.state.value, "alert_count": view.alert_count,
            "truncated": "details exceeded the PagerDuty size limit"}


def group_details(msg: Message) -> dict[str, Any]:
    """A storm's counts (over all its incidents) and the first incidents it lists."""
    views, summary = msg.all_incidents, msg.summary
    details: dict[str, Any] = {"count": summary.total if summary else len(views),
                               "incidents": [f"{v.code} {_short(v.title)}" for v in views[:500]]}
    if summary is not None:
        details.update({name: {g.name: g.count for g in groups} for name, groups in (
            ("by_severity", summary.severities), ("by_alert", summary.alerts), ("by_service", summary.services),
            ("by_namespace", summary.namespaces))})
        if summary.console_url:
            details["console"] = summary.console_url
    return details


class PagerDutyNotifier:
    """Sends Events API v2 events to `{base_url}/enqueue` with the target's routing key.

    Pass `session` to keep connections alive between events (the caller closes it); without, every event
    opens and closes its own.
    """

    def __init__(self, renderer: Renderer, *, base_url: str = "https://events.pagerduty.com/v2",
                 timeout: float = 10.0, session: aiohttp.ClientSession | None = None,
                 source: str = "tocsin") -> None:
        self._renderer = renderer
        self._url = base_url.rstrip("/") + "/enqueue"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._source = source

    def build_event(self, msg: Message, action: str) -> dict[str, Any]:
        if msg.target.routing_key is None:
            raise ValueError("PagerDuty target without routing_key")
        event: dict[str, Any] = {"routing_key": msg.target.routing_key.get_secret_value(),
                                 "event_action": action, "dedup_key": event_key(msg)}
        if action == "trigger":
            event.update(self._trigger_fields(msg, event))
        return event

    def _trigger_fields(self, msg: Message, event: dict[str, Any]) -> dict[str, Any]:
        views = msg.all_incidents
        view = views[0]
        labels = view.labels
        payload: dict[str, Any] = {
            "summary": self._renderer.pagerduty_summary(msg),
            "source": labels.get("instance") or labels.get("service") or self._source,
            "severity": PD_SEVERITY[min((v.severity for v in views), key=list(Severity).index)],  # the worst
            "timestamp": view.opened_at.isoformat(),
        }
        for field, label in (("component", "service"), ("group", "namespace"), ("class", "alertname")):
            if labels.get(label):
                payload[field] = _short(labels[label])
        links = [{"href": url, "text": text} for text, url in
                 (("Runbook", view.runbook_url), ("Dashboard", view.dashboard_url), ("Tocsin", view.console_url))
                 if url and url.startswith(("https://", "http://"))]
        fields: dict[str, Any] = {"client": "Tocsin", "payload": payload, "links": links}
        if view.console_url:
            fields["client_url"] = view.console_url
        budget = MAX_EVENT_BYTES - _size({**event, **fields})
        payload["custom_details"] = custom_details(view, budget) if msg.incident is not None else \
            group_details(msg)
        return fields

    async def notify(self, msg: Message) -> DeliveryResult:
        action = event_action(msg)
        if action is None:
            return Permanent("PagerDuty takes no digests")
        try:
            event = self.build_event(msg, action)
        except ValueError as exc:
            return Permanent(str(exc))
        try:
            status, headers, text = await self._post(event)
        except (TimeoutError, aiohttp.ClientError) as exc:  # timeouts, refused connections, resets
            log.warning("pagerduty delivery failed (retryable): %s", type(exc).__name__)
            return Retryable(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        return _classify(status, headers, text, event["dedup_key"])

    async def _post(self, event: dict[str, Any]) -> tuple[int, Mapping[str, str], str]:
        if self._session is not None:
            return await self._send(self._session, event)
        async with aiohttp.ClientSession() as session:
            return await self._send(session, event)

    async def _send(self, session: aiohttp.ClientSession, event: dict[str, Any]) -> tuple[int, Mapping[str, str], str]:
        # the same compact UTF-8 encoding the size budget (_size) was computed with
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
        async with session.post(self._url, data=body, headers=JSON_HEADERS, timeout=self._timeout) as resp:
            return resp.status, resp.headers, await resp.text()


def _classify(status: int, headers: Mapping[str, str], text: str, key: str) -> DeliveryResult:
    if status == 202:
        try:
            answered = json.loads(text).get("dedup_key")
        except (ValueError, AttributeError):
            answered = None
        return Delivered(str(answered or key))
    if status == 429:
        return Retryable("429 Too Many Requests", parse_retry_after(headers.get("Retry-After")))
    if status >= 500:
        return Retryable(f"HTTP {status}")
    try:
        body = json.loads(text)
        reason = "; ".join([str(body.get("message", "")), *map(str, body.get("errors", []))]).strip("; ")
    except (ValueError, AttributeError):
        reason = text[:500]
    return Permanent(f"HTTP {status}: {reason}")
