"""A sample incident as the notifiers see it (an IncidentView), with any field changed."""

from __future__ import annotations

from datetime import UTC, datetime

from webhook.notifiers.base import IncidentState, IncidentView, Severity, TimelineEntry

OPENED = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)


def make_incident(**changes: object) -> IncidentView:
    base: dict[str, object] = {
        "id": "41", "code": "T-41", "incident_key": "fp:abc123:2025-03-04T09:30:00Z",
        "title": "api-gateway 5xx ratio above 5%", "severity": Severity.CRITICAL,
        "state": IncidentState.TRIGGERED, "opened_at": OPENED,
        "description": "More than 5% of requests fail for 10 minutes.",
        "labels": {"alertname": "ApiErrorRate", "namespace": "prod", "service": "api-gateway",
                   "severity": "critical", "team": "platform"},
        "annotations": {"runbook_url": "https://runbooks.example.com/api-errors",
                        "dashboard_url": "https://grafana.example.com/d/api"},
        "alert_count": 3, "console_url": "https://tocsin.example.com/incidents/41",
        "timeline": (TimelineEntry(OPENED, "opened with 3 alerts"),),
    }
    base.update(changes)
    return IncidentView(**base)  # type: ignore[arg-type]
