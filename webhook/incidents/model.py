"""Incident state machine and dedup/flap decisions: pure functions that return an explicit reason."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from webhook.config import FlapConfig, IncidentConfig


class Reason(StrEnum):
    """Why an incoming alert changed what it changed; exported as the metric label `reason`."""

    NEW = "new"  # a new episode opened a new incident
    JOIN = "join"  # a new episode joined an open incident
    REPEAT = "repeat"  # same episode, same status (repeat_interval, HA peer, retry burst): counters only
    UPDATE = "update"  # same firing episode with changed annotations or endsAt
    RESOLVE = "resolve"  # an episode resolved; its incident still has firing alerts
    RESOLVE_INCIDENT = "resolve_incident"  # the last firing episode resolved: incident resolved
    FLAP = "flap"  # fired again within the flap window: one incident, marked flapping
    FLAP_HOLD = "flap_hold"  # last episode resolved on a flapping incident: resolves after the quiet period
    STALE = "stale"  # firing delivered after the same episode already resolved (out of order)
    ORPHAN_RESOLVE = "orphan_resolve"  # resolved episode never seen firing: stored, no incident


class State(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


#: Fingerprints of Tocsin's own preventive alerts (webhook/prevention) start with this; Alertmanager's are 16 hex
#: digits, so the two never meet. No Alertmanager lists a preventive alert: reconcile leaves them alone.
PREVENTIVE_PREFIX = "tp-"

OPEN_STATES = (State.TRIGGERED, State.ACKNOWLEDGED, State.SNOOZED)
SEVERITY_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1}


def severity_of(labels: dict[str, str]) -> str:
    sev = labels.get("severity", "")
    return sev if sev in SEVERITY_RANK else "unknown"


def higher_severity(a: str, b: str) -> str:
    return a if SEVERITY_RANK.get(a, 0) >= SEVERITY_RANK.get(b, 0) else b


def key_labels_for(labels: dict[str, str], cfg: IncidentConfig) -> list[str]:
    """The incident key labels of the first grouping rule matching labels, else the default set."""
    for rule in cfg.grouping:
        if all(labels.get(k, "") == v for k, v in rule.match.items()) and all(
            re.fullmatch(rx, labels.get(k, "")) for k, rx in rule.match_re.items()
        ):
            return rule.key_labels
    return cfg.key_labels


def incident_key(labels: dict[str, str], key_labels: list[str]) -> str:
    """Stable key of the incident an alert belongs to (also PagerDuty's dedup_key)."""
    h = hashlib.sha256()
    for name in sorted(key_labels):
        h.update(f"{name}\x00{labels.get(name, '')}\x00".encode())
    return h.hexdigest()[:32]


# The value types below are NamedTuples: immutable like frozen dataclasses, and several times cheaper to
# build, which matters on the per-alert path of an alert storm.


class Episode(NamedTuple):
    """What is stored of one alert episode (fingerprint, startsAt)."""

    status: str
    annotations: str  # JSON text, canonical (sorted keys) when written by this version
    ends_at: datetime | None
    incident_id: int | None


class IncidentSnap(NamedTuple):
    """The fields of an incident that dedup decisions read and change."""

    id: int | None
    state: State
    severity: str
    firing_alerts: int
    flapping: bool
    changes: tuple[datetime, ...]
    resolve_after: datetime | None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class Decision(NamedTuple):
    reason: Reason
    #: The incident after this alert (None when the alert touches no incident).
    incident: IncidentSnap | None
    #: True when `incident` is a new row to insert.
    opens_incident: bool = False
    #: Episode status to store (None: leave the stored status).
    store_status: str | None = None


def _prune(changes: tuple[datetime, ...], now: datetime, window: timedelta) -> tuple[datetime, ...]:
    return tuple(t for t in changes if now - t <= window)


def same_json(a: str, b: str) -> bool:
    """Two JSON texts of the same value (equal text, or the same object with its keys in another order)."""
    return a == b or json.loads(a) == json.loads(b)


def decide_firing(sev: str, annotations: str, ends_at: datetime | None, episode: Episode | None,
                  open_inc: IncidentSnap | None, recent: IncidentSnap | None, now: datetime,
                  flap: FlapConfig) -> Decision:
    """A firing alert arrived. `open_inc` is the open incident of its key, `recent` the last resolved one.

    `annotations` is the alert's annotations as canonical JSON text (the form they are stored in).
    """
    if episode is not None:
        if episode.status == "resolved":
            return Decision(Reason.STALE, None)
        if episode.ends_at != ends_at or not same_json(episode.annotations, annotations):
            return Decision(Reason.UPDATE, None, store_status="firing")
        return Decision(Reason.REPEAT, None)
    if open_inc is not None:
        # built directly, not with dataclasses.replace: this is the per-alert hot path of a storm
        inc = IncidentSnap(open_inc.id, open_inc.state, higher_severity(open_inc.severity, sev),
                           open_inc.firing_alerts + 1, open_inc.flapping, open_inc.changes, open_inc.resolve_after)
        if open_inc.firing_alerts == 0:  # a flapping incident waiting for quiet fires again
            changes = (*_prune(open_inc.changes, now, flap.window), now)
            return Decision(Reason.FLAP, inc._replace(changes=changes, resolve_after=None, flapping=True),
                            store_status="firing")
        return Decision(Reason.JOIN, inc, store_status="firing")
    if recent is not None:
        changes = (*_prune(recent.changes, now, flap.window), now)
        if len(changes) >= flap.changes:
            # a human may have resolved it while other alerts kept firing: they still count (they are linked to
            # it), else the quiet-period resolve would end it while they fire (found by the model-based test)
            reopened = recent._replace(state=State.TRIGGERED, firing_alerts=recent.firing_alerts + 1, flapping=True,
                                       changes=changes, resolve_after=None,
                                       severity=higher_severity(recent.severity, sev))
            return Decision(Reason.FLAP, reopened, store_status="firing")
        new = IncidentSnap(None, State.TRIGGERED, sev, 1, False, changes, None)
        return Decision(Reason.NEW, new, opens_incident=True, store_status="firing")
    new = IncidentSnap(None, State.TRIGGERED, sev, 1, False, (now,), None)
    return Decision(Reason.NEW, new, opens_incident=True, store_status="firing")


def decide_resolved(episode: Episode | None, inc: IncidentSnap | None, now: datetime,
                    flap: FlapConfig) -> Decision:
    """A resolved alert arrived. `inc` is the incident its episode belongs to (any state)."""
    if episode is None:
        return Decision(Reason.ORPHAN_RESOLVE, None, store_status="resolved")
    if episode.status == "resolved":
        return Decision(Reason.REPEAT, None)
    if inc is None:
        return Decision(Reason.RESOLVE, None, store_status="resolved")
    remaining = max(inc.firing_alerts - 1, 0)
    after = inc._replace(firing_alerts=remaining)
    if remaining > 0 or not inc.is_open:
        return Decision(Reason.RESOLVE, after, store_status="resolved")
    changes = (*_prune(inc.changes, now, flap.window), now)
    if inc.flapping or len(changes) >= flap.changes:
        held = after._replace(flapping=True, changes=changes, resolve_after=now + flap.quiet_period)
        return Decision(Reason.FLAP_HOLD, held, store_status="resolved")
    return Decision(Reason.RESOLVE_INCIDENT, after._replace(state=State.RESOLVED, changes=changes),
                    store_status="resolved")


class TransitionError(ValueError):
    """A human action that the incident's state does not allow (e.g. ack of a resolved incident)."""


def transition(state: State, action: str) -> State:
    """Manual state machine: ack, resolve, snooze, unsnooze. Raises TransitionError when not allowed."""
    table: dict[tuple[State, str], State] = {
        (State.TRIGGERED, "ack"): State.ACKNOWLEDGED,
        (State.SNOOZED, "ack"): State.ACKNOWLEDGED,
        (State.TRIGGERED, "snooze"): State.SNOOZED,
        (State.ACKNOWLEDGED, "snooze"): State.SNOOZED,
        (State.SNOOZED, "snooze"): State.SNOOZED,
        (State.SNOOZED, "unsnooze"): State.TRIGGERED,
        (State.TRIGGERED, "resolve"): State.RESOLVED,
        (State.ACKNOWLEDGED, "resolve"): State.RESOLVED,
        (State.SNOOZED, "resolve"): State.RESOLVED,
    }
    nxt = table.get((state, action))
    if nxt is None:
        raise TransitionError(f"cannot {action} an incident that is {state.value}")
    return nxt


def title_of(labels: dict[str, str], annotations: dict[str, str]) -> str:
    summary = annotations.get("summary") or annotations.get("message") or ""
    name = labels.get("alertname", "alert")
    return (f"{name}: {summary}" if summary else name)[:500]


class NotFound(LookupError):
    """No incident with that id."""
