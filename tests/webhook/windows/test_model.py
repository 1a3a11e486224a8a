"""Which labels a window covers and when: one-off, weekly slots across DST and midnight, chained windows, the
checks of a new window (every refusal names what is wrong)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from remediator.matching import parse_matcher
from webhook.windows.model import Window, active_for, hold
from webhook.windows.spec import SpecError, build, key_matchers, parse_recurrence

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
SHOP = {"alertname": "HighErrorRate", "namespace": "shop-eu", "severity": "critical"}


def window(wid: int = 1, *, matchers: tuple[str, ...] = ('namespace=~"shop.*"',), start: datetime | None = T0,
           end: datetime | None = T0 + timedelta(hours=1), every: dict[str, Any] | None = None,
           ended: datetime | None = None) -> Window:
    return Window(wid, "db upgrade", tuple(parse_matcher(m) for m in matchers), start, end,
                  parse_recurrence(every) if every else None, "alice", T0, ended_at=ended)


def test_a_one_off_window_covers_matching_labels_from_its_start_to_its_end() -> None:
    w = window()
    assert w.covers(SHOP) and not w.covers({**SHOP, "namespace": "billing"})
    assert [w.active(T0 + timedelta(minutes=m)) for m in (-1, 0, 59, 60)] == [False, True, True, False]
    found = hold([w], SHOP, T0 + timedelta(minutes=10))
    assert found is not None and found.window.id == 1 and found.until == T0 + timedelta(hours=1)
    assert hold([w], {**SHOP, "namespace": "billing"}, T0) is None
    assert w.describe() == "#1 (db upgrade)"


def test_end_now_stops_the_cover_at_that_instant() -> None:
    w = window(ended=T0 + timedelta(minutes=20))
    assert w.active(T0 + timedelta(minutes=19)) and not w.active(T0 + timedelta(minutes=20))
    assert w.over(T0 + timedelta(minutes=20)) and not w.over(T0)
    found = hold([w], SHOP, T0)
    assert found is not None and found.until == T0 + timedelta(minutes=20)


def test_windows_that_follow_each_other_hold_until_the_last_one_ends() -> None:
    first = window(1)
    second = window(2, start=T0 + timedelta(minutes=50), end=T0 + timedelta(hours=2))
    later = window(3, start=T0 + timedelta(hours=3), end=T0 + timedelta(hours=4))  # a gap: not part of the hold
    found = hold([first, second, later], SHOP, T0 + timedelta(minutes=5))
    assert found is not None and found.window.id == 1 and found.until == T0 + timedelta(hours=2)
    assert [w.id for w in active_for([first, second, later], SHOP, T0 + timedelta(minutes=55))] == [1, 2]


def test_sundays_0200_0400_berlin_across_the_end_of_summer_time() -> None:
    """2026-10-25: clocks go back at 03:00 CEST, local 02:00-03:00 happens twice: the slot lasts three hours."""
    w = window(start=None, end=None, every={"days": ["sun"], "from": "02:00", "to": "04:00",
                                            "timezone": "Europe/Berlin"})
    dst = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)  # 02:00 CEST
    assert not w.active(dst - timedelta(minutes=1)) and w.active(dst)
    assert w.active(dst + timedelta(hours=2, minutes=59))  # 03:59 CET, the second pass through the hour
    found = hold([w], SHOP, dst + timedelta(minutes=30))
    assert found is not None and found.until == datetime(2026, 10, 25, 3, 0, tzinfo=UTC)  # 04:00 CET
    winter = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)  # 02:00 CET a week later: two hours
    assert not w.active(winter - timedelta(minutes=1)) and w.active(winter)
    found = hold([w], SHOP, winter)
    assert found is not None and found.until == datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
    spring = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 02:00 CET does not exist: 03:00 CEST, one hour left
    found = hold([w], SHOP, spring)
    assert found is not None and found.until == datetime(2026, 3, 29, 2, 0, tzinfo=UTC)
    assert hold([w], SHOP, datetime(2026, 10, 24, 1, 0, tzinfo=UTC)) is None  # a Saturday


def test_a_slot_across_midnight_belongs_to_the_day_it_starts() -> None:
    w = window(start=None, end=None, every={"days": "sat", "from": "23:00", "to": "01:00"})
    sat = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)
    assert w.active(sat) and w.active(sat + timedelta(hours=1)) and not w.active(sat + timedelta(hours=1.5))
    assert not w.active(sat + timedelta(days=1))  # Sunday 23:30: Sunday is not in the slot
    found = hold([w], SHOP, sat)
    assert found is not None and found.until == datetime(2026, 11, 29, 1, 0, tzinfo=UTC)


def test_bounds_limit_a_recurring_window() -> None:
    every = {"days": "sat,sun", "from": "00:00", "to": "00:00"}  # all day on weekends
    w = window(start=T0, end=T0 + timedelta(hours=5), every=every)
    assert w.active(T0) and not w.active(T0 - timedelta(minutes=1)) and not w.active(T0 + timedelta(hours=5))
    found = hold([w], SHOP, T0)
    assert found is not None and found.until == T0 + timedelta(hours=5)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"matchers": ['namespace="shop'], "duration": "1h"}, "has an unterminated quote"),
    ({"matchers": ['namespace=~"("'], "duration": "1h"}, "invalid regular expression"),
    ({"matchers": ["9lives=x"], "duration": "1h"}, "matcher '9lives=x': '9lives=x' is not a matcher"),
    ({"matchers": [], "duration": "1h"}, "matchers: give at least one"),
    ({"matchers": ['namespace=~".*"'], "duration": "1h"}, "would cover every alert"),
    ({"duration": "1h", "ends_at": T0 + timedelta(hours=2)}, "give ends_at or duration, not both"),
    ({"ends_at": T0 - timedelta(minutes=1)}, "is not after starts_at"),
    ({"duration": "31d"}, "a one-off window lasts at most 30 days"),
    ({"duration": "soon"}, "duration 'soon'"),
    ({}, "give ends_at or duration"),
    ({"recurrence": {"days": ["sun"], "from": "02:00", "to": "04:00", "timezone": "Europe/Berlinn"}},
     "recurrence.timezone: unknown time zone 'Europe/Berlinn'"),
    ({"recurrence": {"days": ["sunday", "funday"], "from": "02:00", "to": "04:00"}}, "recurrence.days: ['fun']"),
    ({"recurrence": {"days": ["sun"], "from": "2am", "to": "04:00"}}, "recurrence.from:"),
    ({"starts_at": datetime(2026, 12, 1, 2, 0), "duration": "1h"}, "starts_at: give a time zone"),
])
def test_a_bad_window_is_refused_naming_the_part_and_why(kwargs: dict[str, Any], message: str) -> None:
    matchers = kwargs.pop("matchers", ['alertname="DiskFull"'])
    with pytest.raises(SpecError) as err:
        build(matchers, T0, **kwargs)
    assert message in str(err.value)


def test_a_good_window_and_the_matchers_of_an_incident_key() -> None:
    spec = build(['alertname="X"', 'namespace=~"shop.*"'], T0, duration="2h", comment=" deploy ")
    assert (spec.starts_at, spec.ends_at, spec.comment) == (T0, T0 + timedelta(hours=2), "deploy")
    rec = build(['alertname="X"'], T0, recurrence={"days": ["Sun"], "from": "02:00", "to": "04:00",
                                                    "timezone": "Europe/Berlin"})
    assert rec.recurrence is not None and rec.recurrence.days == ("sun",) and rec.starts_at is None
    assert key_matchers({"alertname": "A\"B", "namespace": "shop", "empty": ""}) == [
        'alertname="A\\"B"', 'namespace="shop"']
