"""Schedules: rotations, layers with time windows, overrides, swaps, DST, iCalendar export, strict config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from icalendar import Calendar
from pydantic import ValidationError

from webhook.config.oncall import OnCallConfig, Responder, Schedule, TimeWindow
from webhook.config.types import parse_duration
from webhook.oncall.ical import to_ical
from webhook.oncall.schedule import on_call, shifts, who_is_on_call

BERLIN = ZoneInfo("Europe/Berlin")

CONFIG = """
responders:
  - {name: alice, email: alice@example.com, phone: "+4915100000001", slack_user: U0ALICE, timezone: Europe/Berlin,
     locale: de, contact_rules: [{channel: slack, after: 0m}, {channel: sms, after: 2m}, {channel: voice, after: 5m}]}
  - {name: bob, phone: "+4915100000002", slack_user: U0BOB, contact_rules: [{channel: sms}]}
  - {name: carol, email: carol@example.com, contact_rules: [{channel: email, after: 1h}]}
  - {name: dave, slack_user: U0DAVE}
teams:
  - {name: platform, members: [alice, bob, carol], lead: dave, schedule: platform-primary}
schedules:
  - name: platform-primary
    timezone: Europe/Berlin
    layers:
      - name: weekly
        rotation: weekly
        handoff: "09:00"
        start: 2025-03-03          # a Monday
        participants: [alice, bob, carol]
      - name: business-hours
        rotation: daily
        handoff: "08:00"
        start: 2025-03-03
        participants: [dave]
        restrictions:
          - {days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00", timezone: Europe/Berlin}
    overrides:
      - {user: carol, start: "2025-03-05T20:00:00+01:00", end: "2025-03-06T08:00:00+01:00"}
"""


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


@pytest.fixture
def config() -> OnCallConfig:
    return OnCallConfig.model_validate(yaml.safe_load(CONFIG))


@pytest.fixture
def primary(config) -> Schedule:
    return config.schedule("platform-primary")


def weekly_only(rotation: str = "weekly", handoff: str = "09:00", **extra: object) -> Schedule:
    return Schedule.model_validate({"name": "s", "timezone": "Europe/Berlin", "layers": [
        {"name": "l", "rotation": rotation, "handoff": handoff, "start": "2025-03-03",
         "participants": ["alice", "bob", "carol"]}], **extra})


def test_weekly_rotation_hands_off_at_the_local_time():
    s = weekly_only()
    assert on_call(s, berlin(2025, 3, 3, 9, 0)) == [("alice", "l")]
    assert on_call(s, berlin(2025, 3, 10, 8, 59)) == [("alice", "l")]
    assert on_call(s, berlin(2025, 3, 10, 9, 0)) == [("bob", "l")]
    assert on_call(s, berlin(2025, 3, 17, 12, 0)) == [("carol", "l")]
    assert on_call(s, berlin(2025, 3, 24, 12, 0)) == [("alice", "l")]


def test_nobody_before_the_rotation_starts():
    assert on_call(weekly_only(), berlin(2025, 3, 3, 8, 59)) == []


def test_higher_layer_wins_inside_its_window(primary):
    assert on_call(primary, berlin(2025, 3, 4, 10, 0)) == [("dave", "business-hours")]
    assert on_call(primary, berlin(2025, 3, 4, 17, 0)) == [("alice", "weekly")]
    assert on_call(primary, berlin(2025, 3, 8, 10, 0)) == [("alice", "weekly")]  # Saturday: no window


def test_override_beats_every_layer(primary, config):
    assert on_call(primary, berlin(2025, 3, 5, 21, 0)) == [("carol", "override")]
    assert on_call(primary, berlin(2025, 3, 6, 8, 0)) == [("alice", "weekly")]
    [who] = who_is_on_call(primary, berlin(2025, 3, 5, 21, 0), config.responder_map())
    assert who.email == "carol@example.com"
    primary_then = who_is_on_call(config.schedule("platform-primary"), berlin(2025, 3, 4, 10), config.responder_map())
    assert [r.name for r in primary_then] == ["dave"]


def test_swap_trades_two_shifts():
    s = weekly_only(swaps=[{"layer": "l", "first": {"user": "alice", "at": "2025-03-04T12:00:00+01:00"},
                            "second": {"user": "bob", "at": "2025-03-11T12:00:00+01:00"}}])
    assert on_call(s, berlin(2025, 3, 5, 12, 0)) == [("bob", "l")]
    assert on_call(s, berlin(2025, 3, 12, 12, 0)) == [("alice", "l")]
    assert on_call(s, berlin(2025, 3, 19, 12, 0)) == [("carol", "l")]


def test_swap_of_a_shift_someone_does_not_have_is_rejected():
    with pytest.raises(ValidationError, match="bob has no shift"):
        weekly_only(swaps=[{"layer": "l", "first": {"user": "alice", "at": "2025-03-04T12:00:00+01:00"},
                            "second": {"user": "bob", "at": "2025-03-04T13:00:00+01:00"}}])


def test_daily_handoff_follows_the_wall_clock_across_dst():
    s = weekly_only(rotation="daily")
    march = shifts(s, berlin(2025, 3, 29, 12), berlin(2025, 3, 31, 12))
    assert [(x.start, x.end.astimezone(UTC) - x.start.astimezone(UTC)) for x in march] == [
        (berlin(2025, 3, 29, 9), timedelta(hours=23)),  # spring forward: 23 hours
        (berlin(2025, 3, 30, 9), timedelta(hours=24)),
        (berlin(2025, 3, 31, 9), timedelta(hours=24)),
    ]
    october = shifts(s, berlin(2025, 10, 25, 12), berlin(2025, 10, 26, 12))
    assert [x.end - x.start for x in october] == [timedelta(hours=25), timedelta(hours=24)]  # shifts are UTC
    assert all(x.start.astimezone(BERLIN).hour == 9 for x in march + october)


def test_shifts_merge_layers_and_overrides_in_order(primary):
    got = shifts(primary, berlin(2025, 3, 5, 0), berlin(2025, 3, 6, 12))
    assert [(x.user, x.start, x.end, x.source) for x in got] == [
        ("alice", berlin(2025, 3, 4, 17), berlin(2025, 3, 5, 9), "weekly"),
        ("dave", berlin(2025, 3, 5, 9), berlin(2025, 3, 5, 17), "business-hours"),
        ("alice", berlin(2025, 3, 5, 17), berlin(2025, 3, 5, 20), "weekly"),
        ("carol", berlin(2025, 3, 5, 20), berlin(2025, 3, 6, 8), "override"),
        ("alice", berlin(2025, 3, 6, 8), berlin(2025, 3, 6, 9), "weekly"),
        ("dave", berlin(2025, 3, 6, 9), berlin(2025, 3, 6, 17), "business-hours"),
    ]


def test_ical_export_parses_back_with_one_event_per_shift_and_stable_uids(primary):
    start, end = berlin(2025, 3, 24), berlin(2025, 4, 7)
    raw = to_ical(primary, start, end)
    cal = Calendar.from_ical(raw)
    assert cal.get("version") == "2.0"
    events = list(cal.walk("VEVENT"))
    expected = shifts(primary, start, end)
    assert len(events) == len(expected) > 10
    assert [e.decoded("dtstart") for e in events] == [s.start.astimezone(UTC) for s in expected]
    assert len({str(e["uid"]) for e in events}) == len(events)
    # a later window that still contains a shift gives it the same UID, so calendar apps update in place
    later = Calendar.from_ical(to_ical(primary, berlin(2025, 3, 31), berlin(2025, 4, 14)))
    assert {str(e["uid"]) for e in events} & {str(e["uid"]) for e in later.walk("VEVENT")}
    assert to_ical(primary, start, end) == raw


def test_ical_weekly_shift_across_dst_is_168_local_hours_minus_one():
    s = weekly_only()
    events = list(Calendar.from_ical(to_ical(s, berlin(2025, 3, 26), berlin(2025, 3, 27))).walk("VEVENT"))
    [event] = events
    assert event.decoded("dtend") - event.decoded("dtstart") == timedelta(days=7, hours=-1)
    assert event.decoded("dtstart") == datetime(2025, 3, 24, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("window", "at", "inside"), [
    ({"days": ["mon"], "from": "09:00", "to": "17:00"}, datetime(2025, 3, 3, 9, 0, tzinfo=UTC), True),
    ({"days": ["mon"], "from": "09:00", "to": "17:00"}, datetime(2025, 3, 3, 17, 0, tzinfo=UTC), False),
    ({"days": ["mon"], "from": "09:00", "to": "17:00"}, datetime(2025, 3, 4, 10, 0, tzinfo=UTC), False),
    ({"days": ["fri"], "from": "22:00", "to": "06:00"}, datetime(2025, 3, 7, 23, 0, tzinfo=UTC), True),
    ({"days": ["fri"], "from": "22:00", "to": "06:00"}, datetime(2025, 3, 8, 5, 59, tzinfo=UTC), True),
    ({"days": ["fri"], "from": "22:00", "to": "06:00"}, datetime(2025, 3, 9, 5, 0, tzinfo=UTC), False),
    ({"from": "09:00", "to": "17:00", "timezone": "America/New_York"}, datetime(2025, 3, 3, 14, 0, tzinfo=UTC),
     True),
    ({"from": "09:00", "to": "17:00", "timezone": "America/New_York"}, datetime(2025, 3, 3, 10, 0, tzinfo=UTC),
     False),
])
def test_time_window(window, at, inside):
    assert TimeWindow.model_validate(window).contains(at) is inside


@pytest.mark.parametrize(("text", "delta"), [("0", timedelta(0)), ("0m", timedelta(0)), ("90s", timedelta(seconds=90)),
                                              ("2m", timedelta(minutes=2)), ("1h30m", timedelta(minutes=90)),
                                              ("1d", timedelta(days=1)), (300, timedelta(minutes=5))])
def test_durations(text, delta):
    assert parse_duration(text) == delta


@pytest.mark.parametrize("text", ["", "5", "2 minutes", "-1m", "1m2h", "m", -5, True])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_contact_rules_are_read(config):
    alice = config.responder_map()["alice"]
    assert [(r.channel, r.after) for r in alice.contact_rules] == [
        ("slack", timedelta(0)), ("sms", timedelta(minutes=2)), ("voice", timedelta(minutes=5))]
    assert alice.address("voice") == "+4915100000001"


@pytest.mark.parametrize(("change", "message"), [
    ({"phone": "015100000001"}, "E.164"),
    ({"phone": "+49 151 0000"}, "E.164"),
    ({"timezone": "Mars/Olympus"}, "time zone"),
    ({"pager": "yes"}, "Extra inputs"),
    ({"contact_rules": [{"channel": "email"}]}, "needs an address"),
    ({"contact_rules": [{"channel": "fax"}]}, "channel"),
    ({"slack_user": "alice"}, "slack_user"),
])
def test_responder_validation(change, message):
    with pytest.raises(ValidationError, match=message):
        Responder.model_validate({"name": "x", "phone": "+4915100000001", **change})


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda c: c["schedules"][0]["layers"][0]["participants"].append("mallory"), "unknown responder: mallory"),
    (lambda c: c["teams"][0]["members"].append("eve"), "unknown team member: eve"),
    (lambda c: c["teams"][0].update(schedule="nope"), "unknown schedule: nope"),
    (lambda c: c["responders"].append(c["responders"][0]), "responder names must be unique"),
    (lambda c: c["schedules"][0]["layers"].append(c["schedules"][0]["layers"][0]), "layer names must be unique"),
    (lambda c: c["schedules"][0]["overrides"][0].update(end="2025-03-05T19:00:00+01:00"), "ends before"),
    (lambda c: c["schedules"][0]["overrides"][0].update(start="2025-03-05T20:00:00"), "timezone"),
    (lambda c: c["schedules"][0].update(rotations=[]), "Extra inputs"),
])
def test_config_is_strict(mutate, message):
    raw = yaml.safe_load(CONFIG)
    mutate(raw)
    with pytest.raises(ValidationError, match=message):
        OnCallConfig.model_validate(raw)
