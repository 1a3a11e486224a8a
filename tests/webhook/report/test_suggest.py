"""The suggestion rules and the noise ranking, from hand-written numbers (docs/report.md, "Suggestions")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tests.support.harness import make_config
from webhook.report.build import responder_zones
from webhook.report.compute import Settings, percentile, shift_of
from webhook.report.suggest import noisiest, suggestions


def rule(name: str = "R", **figures: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"rule": name, "incidents": 10, "pages": 10, "transient": 0, "transient_share": 0.0,
                            "flapping": 0, "flapping_share": 0.0, "never_acked": 0, "never_acked_share": 0.0,
                            "actionable": 10, "actionable_share": 1.0, "resolved_with_reason": 0, "remediated": 0,
                            "sleep_pages": 0}
    return base | figures


def actions(r: dict[str, Any], severities: set[str] | None = None) -> list[str]:
    return [s["action"] for s in suggestions(r, severities or {"critical"}, 5)]


def test_a_quiet_useful_rule_gets_no_suggestion() -> None:
    assert actions(rule()) == []


def test_transient_means_raise_for_with_the_numbers_that_triggered_it() -> None:
    [s] = suggestions(rule(transient=6, transient_share=0.6), {"critical"}, 5)
    assert s["action"] == "raise_for" and s["numbers"] == {"transient": 6, "incidents": 10}
    assert "60 % of its incidents resolved by themselves within 5 min" in s["text"]
    assert actions(rule(transient=4, transient_share=0.4)) == []


def test_flapping_means_hysteresis() -> None:
    assert actions(rule(flapping=3, flapping_share=0.3)) == ["hysteresis"]
    assert actions(rule(flapping=2, flapping_share=0.2)) == []


def test_never_acknowledged_and_not_actionable_means_lower_severity_or_a_ticket_queue() -> None:
    assert actions(rule(never_acked=6, never_acked_share=0.6, actionable=1, actionable_share=0.1)) \
        == ["lower_severity"]
    # never acknowledged but actionable (people fixed it without acking): no
    assert actions(rule(never_acked=6, never_acked_share=0.6, actionable=5, actionable_share=0.5)) == []


def test_repeated_hand_fixes_without_remediation_mean_write_a_runbook() -> None:
    assert actions(rule(resolved_with_reason=5)) == ["write_runbook"]
    assert actions(rule(resolved_with_reason=5, remediated=1)) == []
    assert actions(rule(incidents=4, resolved_with_reason=4)) == []


def test_night_pages_on_a_low_severity_mean_hold_until_morning() -> None:
    assert actions(rule(sleep_pages=3), {"low", "warning"}) == ["hold_until_morning"]
    assert actions(rule(sleep_pages=3), {"low", "critical"}) == []
    assert actions(rule(sleep_pages=2), {"low"}) == []


def test_the_noisiest_rank_first_by_pages_times_the_unactionable_share() -> None:
    rules = [rule("useful", pages=50, actionable_share=1.0), rule("noisy", pages=20, actionable_share=0.0),
             rule("half", pages=30, actionable_share=0.5), rule("silent", pages=0, actionable_share=0.0),
             rule("tie", pages=15, actionable_share=0.0, incidents=3)]
    ranked = noisiest(rules, 3)
    assert [(n["rule"], n["score"]) for n in ranked] == [("noisy", 20.0), ("half", 15.0), ("tie", 15.0)]


def test_nearest_rank_percentiles() -> None:
    assert percentile([], 0.5) is None
    assert percentile([4, 1, 3, 2], 0.5) == 2 and percentile([4, 1, 3, 2], 0.9) == 4
    assert percentile([7], 0.9) == 7


def test_shifts_follow_the_local_wall_clock_across_dst() -> None:
    s, berlin = Settings(), ZoneInfo("Europe/Berlin")
    # 06:30 local on the switch day is the night shift that began the evening before, in CET as in CEST
    assert shift_of(datetime(2026, 10, 25, 5, 30, tzinfo=UTC).astimezone(berlin), s) == \
        (datetime(2026, 10, 24).date(), 1)
    assert shift_of(datetime(2026, 10, 24, 5, 30, tzinfo=UTC).astimezone(berlin), s) == \
        (datetime(2026, 10, 24).date(), 0)


def test_responder_zone_explicit_then_schedule_then_utc(tmp_path: Any) -> None:
    cfg = make_config("sqlite://", tmp_path, oncall={
        "responders": [{"name": "ann", "slack_user": "U0ANN", "timezone": "Asia/Tokyo"},
                       {"name": "ben", "slack_user": "U0BEN"}, {"name": "cy", "slack_user": "U0CY"},
                       {"name": "dee", "slack_user": "U0DEE"}],
        "schedules": [{"name": "eu", "timezone": "Europe/Berlin", "layers": [
            {"name": "a", "start": "2026-01-05", "participants": ["ann", "ben"]},
            {"name": "b", "start": "2026-01-05", "participants": ["cy"], "timezone": "America/Chicago"}]}]})
    assert responder_zones(cfg) == {"ann": "Asia/Tokyo", "ben": "Europe/Berlin", "cy": "America/Chicago",
                                    "dee": "UTC"}
