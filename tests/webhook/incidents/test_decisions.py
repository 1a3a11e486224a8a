"""Pure dedup and flap decisions: each returns an explicit reason and mutates nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from webhook.config import FlapConfig
from webhook.incidents.model import (
    Episode,
    IncidentSnap,
    Reason,
    State,
    TransitionError,
    decide_firing,
    decide_resolved,
    incident_key,
    transition,
)
from webhook.store.raw import json_text

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
FLAP = FlapConfig(changes=4, window=timedelta(minutes=10), quiet_period=timedelta(minutes=15))


def inc(**kw: object) -> IncidentSnap:
    base: dict[str, object] = dict(id=1, state=State.TRIGGERED, severity="high", firing_alerts=1, flapping=False,
                                   changes=(NOW - timedelta(minutes=1),), resolve_after=None)
    base.update(kw)
    return IncidentSnap(**base)  # type: ignore[arg-type]


def js(annotations: dict[str, str]) -> str:
    """Annotations as decisions see them: canonical JSON text."""
    return json_text(annotations, canonical=True)


def firing_episode(annotations: dict[str, str] | None = None) -> Episode:
    return Episode("firing", js(annotations or {"summary": "x"}), None, 1)


def test_first_alert_opens_a_new_incident() -> None:
    d = decide_firing("critical", "{}", None, None, None, None, NOW, FLAP)
    assert d.reason is Reason.NEW and d.opens_incident
    assert d.incident is not None and d.incident.state is State.TRIGGERED and d.incident.firing_alerts == 1


def test_repeat_of_the_same_episode_changes_nothing() -> None:
    open_inc = inc()
    d = decide_firing("high", js({"summary": "x"}), None, firing_episode(), open_inc, None, NOW, FLAP)
    assert d.reason is Reason.REPEAT and d.incident is None and d.store_status is None
    assert open_inc.firing_alerts == 1  # input untouched


def test_annotations_stored_with_keys_in_another_order_are_a_repeat() -> None:
    stored = Episode("firing", '{"summary": "x", "description": "d"}', None, 1)  # written before keys were sorted
    d = decide_firing("high", js({"description": "d", "summary": "x"}), None, stored, inc(), None, NOW, FLAP)
    assert d.reason is Reason.REPEAT


def test_changed_annotations_are_an_update_not_a_new_incident() -> None:
    d = decide_firing("high", js({"summary": "y"}), None, firing_episode(), inc(), None, NOW, FLAP)
    assert d.reason is Reason.UPDATE and d.incident is None and d.store_status == "firing"


def test_new_episode_joins_the_open_incident_and_raises_severity() -> None:
    d = decide_firing("critical", "{}", None, None, inc(severity="medium"), None, NOW, FLAP)
    assert d.reason is Reason.JOIN and not d.opens_incident
    assert d.incident is not None and d.incident.firing_alerts == 2 and d.incident.severity == "critical"


def test_firing_after_the_episode_resolved_is_stale() -> None:
    d = decide_firing("high", "{}", None, Episode("resolved", "{}", NOW, 1), inc(), None, NOW, FLAP)
    assert d.reason is Reason.STALE and d.incident is None


def test_resolving_one_of_two_alerts_keeps_the_incident_open() -> None:
    d = decide_resolved(firing_episode(), inc(firing_alerts=2), NOW, FLAP)
    assert d.reason is Reason.RESOLVE and d.incident is not None
    assert d.incident.state is State.TRIGGERED and d.incident.firing_alerts == 1


def test_resolving_the_last_alert_resolves_the_incident() -> None:
    d = decide_resolved(firing_episode(), inc(), NOW, FLAP)
    assert d.reason is Reason.RESOLVE_INCIDENT and d.incident is not None and d.incident.state is State.RESOLVED


def test_resolved_for_an_unknown_episode_is_an_orphan() -> None:
    d = decide_resolved(None, None, NOW, FLAP)
    assert d.reason is Reason.ORPHAN_RESOLVE and d.incident is None and d.store_status == "resolved"


def test_resolved_repeat_is_a_repeat() -> None:
    d = decide_resolved(Episode("resolved", "{}", NOW, 1), inc(state=State.RESOLVED, firing_alerts=0), NOW, FLAP)
    assert d.reason is Reason.REPEAT


def test_refire_below_the_flap_threshold_is_a_new_incident_that_keeps_the_history() -> None:
    changes = (NOW - timedelta(minutes=2), NOW - timedelta(minutes=1))
    recent = inc(state=State.RESOLVED, firing_alerts=0, changes=changes)
    d = decide_firing("high", "{}", None, None, None, recent, NOW, FLAP)
    assert d.reason is Reason.NEW and d.opens_incident
    assert d.incident is not None and len(d.incident.changes) == 3


def test_refire_at_the_flap_threshold_reopens_one_incident_marked_flapping() -> None:
    changes = tuple(NOW - timedelta(minutes=m) for m in (4, 3, 2))
    recent = inc(state=State.RESOLVED, firing_alerts=0, changes=changes)
    d = decide_firing("high", "{}", None, None, None, recent, NOW, FLAP)
    assert d.reason is Reason.FLAP and not d.opens_incident
    assert d.incident is not None and d.incident.id == 1 and d.incident.flapping
    assert d.incident.state is State.TRIGGERED


def test_changes_outside_the_window_do_not_count() -> None:
    changes = tuple(NOW - timedelta(minutes=m) for m in (40, 30, 20))
    recent = inc(state=State.RESOLVED, firing_alerts=0, changes=changes)
    d = decide_firing("high", "{}", None, None, None, recent, NOW, FLAP)
    assert d.reason is Reason.NEW


def test_flapping_incident_waits_for_the_quiet_period_before_resolving() -> None:
    d = decide_resolved(firing_episode(), inc(flapping=True), NOW, FLAP)
    assert d.reason is Reason.FLAP_HOLD and d.incident is not None
    assert d.incident.state is State.TRIGGERED and d.incident.resolve_after == NOW + FLAP.quiet_period


def test_refire_during_the_quiet_period_clears_the_pending_resolution() -> None:
    held = inc(flapping=True, firing_alerts=0, resolve_after=NOW + timedelta(minutes=5))
    d = decide_firing("high", "{}", None, None, held, None, NOW, FLAP)
    assert d.reason is Reason.FLAP and d.incident is not None
    assert d.incident.resolve_after is None and d.incident.firing_alerts == 1


def test_incident_key_depends_only_on_the_key_labels() -> None:
    a = incident_key({"alertname": "A", "namespace": "x", "pod": "p1"}, ["alertname", "namespace"])
    b = incident_key({"alertname": "A", "namespace": "x", "pod": "p2"}, ["alertname", "namespace"])
    c = incident_key({"alertname": "A", "namespace": "y"}, ["alertname", "namespace"])
    assert a == b != c


@pytest.mark.parametrize(("state", "action", "expected"), [
    (State.TRIGGERED, "ack", State.ACKNOWLEDGED), (State.ACKNOWLEDGED, "resolve", State.RESOLVED),
    (State.TRIGGERED, "snooze", State.SNOOZED), (State.SNOOZED, "unsnooze", State.TRIGGERED),
])
def test_allowed_transitions(state: State, action: str, expected: State) -> None:
    assert transition(state, action) is expected


@pytest.mark.parametrize(("state", "action"), [(State.RESOLVED, "ack"), (State.RESOLVED, "snooze")])
def test_forbidden_transitions_raise(state: State, action: str) -> None:
    with pytest.raises(TransitionError, match="cannot"):
        transition(state, action)
