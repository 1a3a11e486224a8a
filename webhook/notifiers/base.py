"""The notifier contract: what a notifier renders from (Message) and how it reports (DeliveryResult)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from pydantic import SecretStr

Locale = Literal["en", "de"]


class Severity(enum.StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class IncidentState(enum.StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    SNOOZED = "snoozed"


class MessageKind(enum.StrEnum):
    TRIGGER = "trigger"
    UPDATE = "update"
    ACK = "ack"
    RESOLVE = "resolve"
    REMINDER = "reminder"
    DIGEST = "digest"
    STORM_SUMMARY = "storm_summary"
    REMEDIATION_PROGRESS = "remediation_progress"
    REMEDIATION_APPROVAL = "remediation_approval"  # a runbook step waits: Slack shows Approve / Reject


#: Kinds that speak about many incidents at once (Message.incidents), all others about one (Message.incident).
MULTI_KINDS = frozenset({MessageKind.DIGEST, MessageKind.STORM_SUMMARY})


class Channel(enum.StrEnum):
    SLACK = "slack"
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"
    PAGERDUTY = "pagerduty"
    LOG = "log"
    PUSH = "push"  # Web Push; the address is a responder name (their subscriptions are looked up at send time)


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of an incident's history, e.g. "acknowledged by alice via sms"."""

    at: datetime
    text: str
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class IncidentView:
    """A read-only snapshot of an incident, everything a message may show and nothing it may change."""

    id: str
    code: str  # short code people type in SMS replies, e.g. "T-41"
    incident_key: str  # the alert group's key: shared by successive incidents of the group (not unique)
    title: str
    severity: Severity
    state: IncidentState
    opened_at: datetime
    description: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    alert_count: int = 1
    acked_by: str | None = None
    resolved_by: str | None = None
    console_url: str | None = None
    flapping: bool = False
    timeline: tuple[TimelineEntry, ...] = ()  # recent entries, oldest first
    alerts: tuple[Mapping[str, str], ...] = ()  # label sets of the grouped alerts, for channels that list them

    @property
    def runbook_url(self) -> str | None:
        return self.annotations.get("runbook_url") or None

    @property
    def dashboard_url(self) -> str | None:
        return self.annotations.get("dashboard_url") or None


@dataclass(frozen=True, slots=True)
class GroupCount:
    """How many incidents of a storm or digest share one alert name, service or namespace."""

    name: str
    count: int
    severity: Severity  # the worst among them


@dataclass(frozen=True, slots=True)
class GroupSummary:
    """What a storm summary or digest is about, counted over all its incidents (its incident list may be cut).

    Each breakdown is ordered worst severity first, then by count, so the first entries are what to look at.
    """

    total: int
    severities: tuple[GroupCount, ...] = ()
    alerts: tuple[GroupCount, ...] = ()
    services: tuple[GroupCount, ...] = ()
    namespaces: tuple[GroupCount, ...] = ()
    console_url: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved contact: Slack channel/user id, E.164 phone number, e-mail address or PagerDuty service.

    For PagerDuty, `address` is a display name and `routing_key` carries the integration key (a secret).
    """

    channel: Channel
    address: str
    name: str | None = None
    routing_key: SecretStr | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """One notification to one target; `previous_reference` is what an earlier delivery returned."""

    kind: MessageKind
    target: Target
    incident: IncidentView | None = None
    incidents: tuple[IncidentView, ...] = ()
    previous_reference: str | None = None
    locale: Locale = "en"
    note: str | None = None  # a new timeline line, e.g. remediation progress; Slack posts it in the thread
    approval: tuple[str, int] | None = None  # (run id, step) of a REMEDIATION_APPROVAL message
    summary: GroupSummary | None = None  # counts over every incident of a storm summary or digest

    def __post_init__(self) -> None:
        if self.kind in MULTI_KINDS:
            if not self.incidents:
                raise ValueError(f"a {self.kind} message needs incidents")
        elif self.incident is None:
            raise ValueError(f"a {self.kind} message needs an incident")

    @property
    def all_incidents(self) -> tuple[IncidentView, ...]:
        return self.incidents if self.incident is None else (self.incident, *self.incidents)


@dataclass(frozen=True, slots=True)
class Delivered:
    """The vendor took the message. `reference` is opaque per channel (see docs/channels.md)."""

    reference: str
    outcome: Literal["delivered"] = "delivered"


@dataclass(frozen=True, slots=True)
class Retryable:
    """A transient failure: try again later, not before `retry_after` seconds when the vendor said so."""

    reason: str
    retry_after: float | None = None
    outcome: Literal["retryable"] = "retryable"


@dataclass(frozen=True, slots=True)
class Permanent:
    """A failure retrying cannot fix (bad credentials, unknown channel...): `reason` is the vendor's text."""

    reason: str
    outcome: Literal["permanent"] = "permanent"


DeliveryResult = Delivered | Retryable | Permanent


@runtime_checkable
class Notifier(Protocol):
    """Delivers one message. Never retries and never raises for vendor faults: it classifies them."""

    async def notify(self, msg: Message) -> DeliveryResult: ...


def parse_retry_after(value: str | None, default: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form; HTTP dates are rare at these vendors)."""
    if value is None:
        return default
    try:
        seconds = float(value.strip())
    except ValueError:
        return default
    return max(seconds, 0.0)


class SignatureError(Exception):
    """A callback failed verification; `reason` is safe to log and to return (it holds no secret)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
