"""Build Alertmanager v4 webhook payloads for tests and benchmarks."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any


def fp(labels: dict[str, str]) -> str:
    return hashlib.sha256(repr(sorted(labels.items())).encode()).hexdigest()[:16]


def alert(status: str = "firing", starts: datetime | None = None, ends: datetime | None = None,
          annotations: dict[str, str] | None = None, **labels: str) -> dict[str, Any]:
    labels = {"alertname": "HighErrorRate", "severity": "critical", "namespace": "shop", **labels}
    starts = starts or datetime(2026, 11, 28, 2, 59, tzinfo=UTC)
    return {
        "status": status, "labels": labels,
        "annotations": annotations if annotations is not None else {"summary": "error ratio above 5%"},
        "startsAt": starts.isoformat().replace("+00:00", "Z"),
        "endsAt": (ends.isoformat().replace("+00:00", "Z") if ends else "0001-01-01T00:00:00Z"),
        "generatorURL": "http://prometheus:9090/graph?g0.expr=x", "fingerprint": fp(labels),
    }


def payload(*alerts: dict[str, Any], truncated: int = 0, receiver: str = "tocsin") -> dict[str, Any]:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {
        "version": "4", "groupKey": '{}:{alertname="HighErrorRate"}', "truncatedAlerts": truncated,
        "status": status, "receiver": receiver, "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }
