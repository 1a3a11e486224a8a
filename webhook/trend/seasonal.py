"""Seasonal baseline of a business rate (orders per hour, payments): the same wall-clock hour of previous weeks.

Pure numpy and zoneinfo, no I/O. Why each choice:

- *Same local hour of previous weeks*, not "now minus k x 168 h": commerce follows the clock on the wall, so after
  a DST change the Monday 09:00 rush is 167 or 169 hours after the last one. The targets are built in local time
  and converted back to UTC with zoneinfo.
- *Median of several weeks with a robust spread* (1.4826 x MAD, floored at 5 % of the median): one bad week
  (an outage, a campaign) moves neither; a mean and a standard deviation would follow it.
- *Holidays* are left out of the baseline (a Christmas Monday is no Monday) and not judged.
- *A volume floor*: while both the value and its expectation are below it, nothing is judged (3 orders instead of
  6 at 4 a.m. is noise, not a collapse).
- *Sustain*: the caller needs several consecutive verdicts in the same direction (`exhaustion.debounce`), so a
  single odd point never pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Direction = Literal["drop", "surge"]
#: 1.4826 x MAD estimates the standard deviation of normal data.
MAD_SCALE = 1.4826
#: The spread is never taken below this fraction of the median (four equal weeks would give a spread of 0).
MIN_SPREAD = 0.05


@dataclass(frozen=True, slots=True)
class Rules:
    weeks: int = 4
    floor: float = 0.0
    drop: float | None = 0.5
    surge: float | None = 2.0
    z: float | None = None
    holidays: frozenset[date] = frozenset()
    tz: str = "UTC"
    #: how far from its target time a past sample may be and still stand for it, seconds
    tolerance_s: float = 300.0
    #: past weeks needed for a baseline
    min_weeks: int = 2


@dataclass(frozen=True, slots=True)
class Baseline:
    expected: float  # median of the same hour of previous weeks
    spread: float  # robust standard deviation
    low: float  # below: a drop
    high: float  # above: a surge (math.inf when surges are not judged)
    weeks: int  # how many past weeks it rests on


@dataclass(frozen=True, slots=True)
class Verdict:
    judged: bool  # False: holiday, below the floor, or no baseline (the caller keeps its state)
    direction: Direction | None = None  # None: normal
    value: float = 0.0
    baseline: Baseline | None = None


def same_hour(at: datetime, weeks: int, tz: str) -> list[datetime]:
    """The same local wall-clock time 1..`weeks` weeks before `at`, as UTC datetimes (newest first)."""
    zone = ZoneInfo(tz)
    wall = at.astimezone(zone).replace(tzinfo=None)
    return [(wall - timedelta(weeks=k)).replace(tzinfo=zone).astimezone(UTC) for k in range(1, weeks + 1)]


def value_at(t: Floats, v: Floats, at: float, tolerance_s: float) -> float | None:
    """The last sample at or before `at`, if it is at most `tolerance_s` old."""
    i = int(np.searchsorted(t, at, side="right")) - 1
    if i < 0 or at - float(t[i]) > tolerance_s:
        return None
    return float(v[i])


def baseline(t: Floats, v: Floats, at: datetime, rules: Rules) -> Baseline | None:
    """The expected value at `at` from the same hour of previous weeks (holidays left out); None with fewer than
    `min_weeks` of them in the data."""
    zone = ZoneInfo(rules.tz)
    past = []
    for when in same_hour(at, rules.weeks, rules.tz):
        if when.astimezone(zone).date() in rules.holidays:
            continue
        x = value_at(t, v, when.timestamp(), rules.tolerance_s)
        if x is not None:
            past.append(x)
    if len(past) < rules.min_weeks:
        return None
    a = np.asarray(past)
    mid = float(np.median(a))
    spread = max(MAD_SCALE * float(np.median(np.abs(a - mid))), MIN_SPREAD * abs(mid), 1e-9)
    return Baseline(mid, spread, *_bounds(mid, spread, rules), weeks=len(past))


def _bounds(mid: float, spread: float, r: Rules) -> tuple[float, float]:
    """Below low is a drop, above high a surge; with a factor and z, both must hold (the looser bound)."""
    lows = [mid * r.drop] if r.drop is not None else []
    highs = [mid * r.surge] if r.surge is not None else []
    if r.z is not None:
        lows.append(mid - r.z * spread)
        highs.append(mid + r.z * spread)
    low = min(lows) if r.drop is not None or r.z is not None else -np.inf
    high = max(highs) if r.surge is not None or r.z is not None else np.inf
    return float(low), float(high)


def judge(t: Floats, v: Floats, at: datetime, rules: Rules) -> Verdict:
    """The verdict on the latest sample (at or shortly before `at`)."""
    if at.astimezone(ZoneInfo(rules.tz)).date() in rules.holidays:
        return Verdict(False)
    x = value_at(t, v, at.timestamp(), rules.tolerance_s)
    if x is None:
        return Verdict(False)
    base = baseline(t, v, at, rules)
    if base is None:
        return Verdict(False, value=x)
    if max(x, base.expected) < rules.floor:
        return Verdict(False, value=x, baseline=base)
    direction: Direction | None = "drop" if x < base.low else "surge" if x > base.high else None
    return Verdict(True, direction, x, base)


def step_state(state: Direction | None, run: int, last: Direction | None, verdict: Verdict,
               k: int) -> tuple[Direction | None, int, Direction | None]:
    """One evaluation: (state, run, last direction seen) after `verdict`. A direction switches on after `k`
    consecutive verdicts agreeing on it, off after `k` consecutive normal ones; a verdict not judged (holiday,
    below the floor, no baseline) holds everything."""
    if not verdict.judged:
        return state, run, last
    seen = verdict.direction
    if seen == state:
        return state, 0, seen
    run = run + 1 if seen == last else 1
    if run >= k:
        return seen, 0, seen
    return state, run, seen


def sustained(verdicts: Sequence[Verdict], k: int) -> list[Direction | None]:
    """The alert state after each of a sequence of verdicts (`step_state` in a loop)."""
    state: Direction | None = None
    run, last = 0, None
    out: list[Direction | None] = []
    for verdict in verdicts:
        state, run, last = step_state(state, run, last, verdict, k)
        out.append(state)
    return out
