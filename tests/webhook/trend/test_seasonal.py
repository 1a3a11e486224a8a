"""Seasonal baseline: the same local hour of previous weeks (DST), holidays, the volume floor, sustain."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from webhook.trend import seasonal
from webhook.trend.seasonal import Rules, Verdict, judge, same_hour, sustained

BERLIN = ZoneInfo("Europe/Berlin")
STEP = 300.0


def orders(start: datetime, end: datetime, rate: float = 100.0) -> tuple[npt.NDArray[np.float64],
                                                                          npt.NDArray[np.float64]]:
    """Orders per hour in Berlin: `rate` from 08:00 to 20:00 local, 10 % of it at night."""
    t = np.arange(start.timestamp(), end.timestamp() + 1, STEP)
    hours = np.array([datetime.fromtimestamp(x, BERLIN).hour for x in t])
    v = np.where((hours >= 8) & (hours < 20), rate, rate / 10).astype(np.float64)
    return t, v


def at(local: str) -> datetime:
    return datetime.fromisoformat(local).replace(tzinfo=BERLIN).astimezone(UTC)


def test_the_same_wall_clock_hour_across_a_dst_change() -> None:
    # Monday 2026-11-02 09:00 CET; four weeks earlier, 2026-10-05 09:00, was CEST (UTC+2)
    now = at("2026-11-02T09:00")
    got = same_hour(now, 4, "Europe/Berlin")
    assert [g.astimezone(BERLIN).strftime("%a %H:%M") for g in got] == ["Mon 09:00"] * 4
    assert now - got[0] == timedelta(weeks=1)  # after the change (Oct 25): 168 h
    assert now - got[-1] == timedelta(weeks=4, hours=1)  # across it: one hour more
    # "minus 4 x 168 h" would land on 10:00 local before the change
    assert (now - timedelta(weeks=4)).astimezone(BERLIN).hour == 10


def test_dst_week_judges_the_evening_against_the_same_local_hour() -> None:
    t, v = orders(at("2026-10-01T00:00"), at("2026-11-02T19:32"))
    rules = Rules(tz="Europe/Berlin", tolerance_s=STEP)
    # 19:30 local, the week after the change: three of the four past weeks were summer time
    verdict = judge(t, v, at("2026-11-02T19:30"), rules)
    assert verdict.judged and verdict.direction is None
    assert verdict.baseline is not None and verdict.baseline.expected == 100.0
    # counted in UTC, those three weeks give 20:30 local (night): a false surge
    naive = judge(t, v, at("2026-11-02T19:30"), Rules(tz="UTC", tolerance_s=STEP))
    assert naive.baseline is not None and naive.baseline.expected == 10.0 and naive.direction == "surge"


def test_holidays_are_left_out_of_the_baseline_and_not_judged() -> None:
    t, v = orders(at("2026-11-01T00:00"), at("2026-12-07T12:00"))
    t_list = t.tolist()
    holiday = date(2026, 11, 30)  # the Monday one week before: a shop closed all day
    closed = np.array([datetime.fromtimestamp(x, BERLIN).date() == holiday for x in t_list])
    v = np.where(closed, 0.0, v)
    rules = Rules(tz="Europe/Berlin", tolerance_s=STEP, holidays=frozenset({holiday}))
    verdict = judge(t, v, at("2026-12-07T12:00"), rules)
    assert verdict.baseline is not None and verdict.baseline.expected == 100.0 and verdict.baseline.weeks == 3
    assert not judge(t, v, at("2026-11-30T12:00"), rules).judged  # the holiday itself is not judged
    with_it = judge(t, v, at("2026-12-07T12:00"), Rules(tz="Europe/Berlin", tolerance_s=STEP, weeks=2))
    assert with_it.baseline is not None and with_it.baseline.expected == 50.0  # what the holiday would do


def test_below_the_floor_nothing_is_judged() -> None:
    t, v = orders(at("2026-11-01T00:00"), at("2026-12-07T03:00"))
    v[-1] = 2.0  # 2 instead of 10 at 03:00: a fifth, yet noise at this volume
    assert not judge(t, v, at("2026-12-07T03:00"), Rules(tz="Europe/Berlin", tolerance_s=STEP, floor=20)).judged
    low = judge(t, v, at("2026-12-07T03:00"), Rules(tz="Europe/Berlin", tolerance_s=STEP))
    assert low.judged and low.direction == "drop"


def _run(v_now: list[float], k: int = 3) -> list[seasonal.Direction | None]:
    """Evaluate the last len(v_now) samples of a Monday noon with these values, one verdict each."""
    t, v = orders(at("2026-11-01T00:00"), at("2026-12-07T12:00"))
    n = len(v_now)
    v[-n:] = v_now
    rules = Rules(tz="Europe/Berlin", tolerance_s=STEP)
    verdicts = [judge(t[:len(t) - n + i + 1], v[:len(v) - n + i + 1], datetime.fromtimestamp(t[len(t) - n + i], UTC),
                      rules) for i in range(n)]
    return sustained(verdicts, k)


def test_a_single_point_spike_or_dip_does_not_page() -> None:
    assert _run([100, 5, 100, 100, 400, 100]) == [None] * 6


def test_a_sustained_drop_pages_on_the_third_evaluation_and_clears_after_three_normal() -> None:
    states = _run([100, 10, 12, 8, 9, 100, 100, 100])
    assert states == [None, None, None, "drop", "drop", "drop", "drop", None]


def test_a_sustained_surge_pages() -> None:
    assert _run([100, 250, 260, 240])[-1] == "surge"
    assert _run([100, 150, 160, 170])[-1] is None  # +60 % is within the default surge factor 2


def test_robust_z_with_a_factor_needs_both() -> None:
    t = np.arange(0.0, 5 * 7 * 86400 + 1, 3600.0)
    v = np.full(len(t), 100.0)
    v[np.isin(t, [t[-1] - k * 7 * 86400 for k in range(1, 5)])] = [90, 100, 110, 100]
    now = datetime.fromtimestamp(t[-1], UTC)
    v[-1] = 60.0  # z = 40 / (1.4826 * 5) = 5.4; factor 0.6 of expected
    assert judge(t, v, now, Rules(z=4, drop=None, surge=None, tolerance_s=60)).direction == "drop"
    assert judge(t, v, now, Rules(z=4, drop=0.5, tolerance_s=60)).direction is None  # 60 is not under 50
    assert judge(t, v, now, Rules(z=10, drop=None, surge=None, tolerance_s=60)).direction is None


def test_without_enough_past_weeks_there_is_no_baseline() -> None:
    t, v = orders(at("2026-12-01T00:00"), at("2026-12-09T12:00"))  # one week of history
    verdict = judge(t, v, at("2026-12-09T12:00"), Rules(tz="Europe/Berlin", tolerance_s=STEP))
    assert verdict == Verdict(False, value=100.0)
    assert seasonal.baseline(t, v, at("2026-12-09T12:00"), Rules(tz="Europe/Berlin", tolerance_s=STEP)) is None
