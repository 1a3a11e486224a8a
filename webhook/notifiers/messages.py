"""Incident rows -> the read-only views and messages notifiers render (pure, no I/O)."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from webhook.notifiers import (
    Channel,
    IncidentState,
    IncidentView,
    Locale,
    Message,
    MessageKind,
    Severity,
    Target,
    TimelineEntry,
)
from webhook.notifiers.base import GroupCount, GroupSummary

CODE_PREFIX = "T"
#: Entries kept per breakdown of a group summary (messages show fewer; the console has everything).
MAX_COUNTS = 20
#: Labels naming an incident's service, the first present wins.
SERVICE_LABELS = ("service", "job", "app")
_RANK = {s: n for n, s in enumerate(Severity)}  # critical first
#: The note of a remediation_approval delivery: "run 7 step 1: scale api to 5?" (readable, and it names the step).
APPROVAL_NOTE = re.compile(r"^run (\d{1,17}) step (\d{1,6}): ")


def approval_note(run_id: str, step: int, question: str) -> str:
    return f"run {run_id} step {step}: {question}"


def code_of(incident_id: int) -> str:
    """Short code people type in SMS replies ("ACK T-41")."""
    return f"{CODE_PREFIX}-{incident_id}"


def severity_view(severity: str) -> Severity:
    try:
        return Severity(severity)
    except ValueError:
        return Severity.MEDIUM  # an alert without a known severity label still renders


def incident_view(row: Mapping[str, Any], public_url: str = "", alerts: Sequence[Mapping[str, str]] = (),
                  timeline: Sequence[tuple[datetime, str, str]] = ()) -> IncidentView:
    iid = int(row["id"])
    annotations = {str(k): str(v) for k, v in (row["annotations"] or {}).items()}
    return IncidentView(
        id=str(iid), code=code_of(iid), incident_key=str(row["incident_key"]), title=str(row["title"]),
        severity=severity_view(str(row["severity"])), state=IncidentState(str(row["state"])),
        opened_at=row["opened_at"], description=annotations.get("description", ""),
        labels={str(k): str(v) for k, v in (row["labels"] or {}).items()}, annotations=annotations,
        alert_count=int(row["alert_count"]), acked_by=row["acked_by"], resolved_by=row["resolved_by"],
        console_url=f"{public_url.rstrip('/')}/api/v1/incidents/{iid}" if public_url else None,
        flapping=bool(row["flapping"]), alerts=tuple(alerts),
        timeline=tuple(TimelineEntry(at, text, actor) for at, text, actor in timeline),
    )


def console_link(public_url: str) -> str | None:
    """The operator console, where a storm is worked through (messages link here instead of listing it)."""
    return f"{public_url.rstrip('/')}/console" if public_url else None


def _counts(pairs: Iterable[tuple[str, Severity]]) -> tuple[GroupCount, ...]:
    count: Counter[str] = Counter()
    worst: dict[str, Severity] = {}
    for name, sev in pairs:
        count[name] += 1
        if name not in worst or _RANK[sev] < _RANK[worst[name]]:
            worst[name] = sev
    ordered = sorted((GroupCount(n, c, worst[n]) for n, c in count.items()),
                     key=lambda g: (_RANK[g.severity], -g.count, g.name))
    return tuple(ordered[:MAX_COUNTS])


def _first_label(labels: Mapping[str, str], names: Sequence[str]) -> str:
    return next((labels[n] for n in names if labels.get(n)), "")


def summarize(members: Iterable[tuple[str, Mapping[str, Any]]]) -> GroupSummary:
    """Counts of a storm or digest by severity, alert, service and namespace from (severity, labels) pairs.

    A phone shows 160 characters: a storm of thousands is told by what is affected, the worst first, not by a
    list of incident codes.
    """
    rows = [(severity_view(str(sev)), {str(k): str(v) for k, v in (labels or {}).items()}) for sev, labels in members]

    def by(names: Sequence[str]) -> tuple[GroupCount, ...]:
        return _counts((value, sev) for sev, labels in rows if (value := _first_label(labels, names)))

    return GroupSummary(
        total=len(rows), severities=_counts((sev.value, sev) for sev, _ in rows), alerts=by(("alertname",)),
        services=by(SERVICE_LABELS), namespaces=by(("namespace",)))


def build_message(kind: str, channel: str, address: str, locale: str, views: Sequence[IncidentView],
                  note: str | None, previous_reference: str | None, routing_key: SecretStr | None,
                  name: str | None = None, summary: GroupSummary | None = None, public_url: str = "") -> Message:
    """One outbox row as a notifier Message; storm summaries and digests carry many incidents and their counts."""
    mk = MessageKind(kind)
    target = Target(Channel(channel), address, name, routing_key)
    loc: Locale = "de" if locale == "de" else "en"
    if mk in (MessageKind.DIGEST, MessageKind.STORM_SUMMARY):
        counted = summary if summary is not None else summarize((v.severity.value, v.labels) for v in views)
        counted = dataclasses.replace(counted, console_url=console_link(public_url))
        return Message(mk, target, incidents=tuple(views), locale=loc, note=note, summary=counted)
    found = APPROVAL_NOTE.match(note or "") if mk is MessageKind.REMEDIATION_APPROVAL else None
    if mk is MessageKind.REMEDIATION_APPROVAL and found is None:
        raise ValueError(f"approval note without run and step: {note!r}")
    return Message(mk, target, incident=views[0], previous_reference=previous_reference, locale=loc, note=note,
                   approval=(found[1], int(found[2])) if found else None)
