"""Forecast of resource exhaustion (disk, memory, inodes ...) robust to sawtooth, bursts and GC drops.

Pure numpy, no I/O. `forecast(t, v)` sees the samples observed so far (`t` in seconds, increasing; `v` the used
fraction of capacity, 0..1) and returns when the series will reach `threshold`, with an 80 % interval, or None
when there is no evidence of an upward trend.

Method (why each step):

1. Only the last `lookback_s` (7 d) are used, reduced to at most `max_buckets` buckets holding their *maximum*
   (the upper envelope: a full disk is what matters, and short dips are not capacity returned). This bounds the
   cost of one forecast (Theil-Sen over <= 168 points is ~14k pairwise slopes) whatever the sampling rate.
   No forecast before `min_history_s` (24 h) of data: a daily cycle (nightly rotation or drain) cannot be told
   from a fill with less.
2. The envelope is cut into *segments* at big drops (a fall of more than `drop`, 0.08 of capacity, below the
   segment's peak; a gradual drain moves the next segment's start to its trough). A drop is log rotation, a
   GC, a cleanup job: capacity came back, so the slope before it says nothing about the slope after it.
3. The trend of the current segment ("trend"): Theil-Sen (median of pairwise slopes) over its last
   `trend_window_s` (24 h), and again over its last `recent_window_s` (8 h); the *smaller* of the two slopes
   is used. Theil-Sen ignores a burst (a step is a minority of the pairs) and the minimum of both windows
   means that a long-ago rise that has stopped (burst then flat) and a recent jump over a flat day both need the
   other window to agree. The level "now" is the Theil-Sen intercept over the recent window.
4. Sawtooth ("tooth" / "envelope"): once a drop was seen, the series may be periodic. If the current
   tooth reaches the threshold before its expected end (median period minus its age) it is the forecast (a
   tooth that grows past the usual rotation); otherwise the forecast is the Theil-Sen line through the peaks of
   the segments (at least 3), i.e. whether the teeth creep up. A sawtooth with stable peaks has no forecast.
5. ETA = (threshold - level) / slope when slope > 0. The 80 % interval uses the 10th and 90th percentiles of the
   pairwise slopes over pairs at least a third of the fit's span apart (close pairs measure noise, not trend);
   an upper bound is `math.inf` when the 10th percentile slope is <= 0.

Deciding to warn is the caller's: `warns(f, horizon_s)`, plus `debounce` (a warning needs `persistence`
consecutive forecasts agreeing to switch on, and as many to switch off), which cuts the flips of a forecast
hovering around the horizon.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

HOUR = 3600.0
Floats = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Params:
    horizon_s: float = 24 * HOUR
    lookback_s: float = 7 * 24 * HOUR
    min_history_s: float = 24 * HOUR
    trend_window_s: float = 24 * HOUR
    recent_window_s: float = 8 * HOUR
    min_fit_s: float = 2 * HOUR
    drop: float = 0.08
    max_buckets: int = 168
    persistence: int = 3


@dataclass(frozen=True, slots=True)
class Forecast:
    eta_s: float  # seconds from the last sample to the forecast crossing (0: already at or above)
    low_s: float  # 80 % interval: 10th percentile of the ETA
    high_s: float  # 90th percentile of the ETA (math.inf when a flat or falling slope is plausible)
    slope_per_h: float
    level: float  # the fitted level at the last sample
    regime: str  # "over", "trend", "tooth" or "envelope"


@dataclass(frozen=True, slots=True)
class _Fit:
    slope: float  # per second
    s10: float
    s90: float
    level: float


@functools.lru_cache(maxsize=512)
def _pairs(n: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    i, j = np.triu_indices(n, 1)
    return i, j


def _pair_slopes(x: Floats, y: Floats) -> tuple[Floats, Floats]:
    i, j = _pairs(len(x))
    dx = x[j] - x[i]
    return (y[j] - y[i]) / dx, dx


def _quantiles(a: Floats, qs: tuple[float, ...]) -> list[float]:
    """Nearest-rank quantiles by one partial sort (np.percentile costs more than the sort at these sizes)."""
    ks = [min(len(a) - 1, round(q * (len(a) - 1))) for q in qs]
    part = np.partition(a, ks)
    return [float(part[k]) for k in ks]


def _theil_sen(x: Floats, y: Floats, now: float) -> _Fit:
    slopes, dx = _pair_slopes(x, y)
    far = slopes[dx >= (x[-1] - x[0]) / 3.0]
    (s,) = _quantiles(slopes, (0.5,))
    s10, s90 = _quantiles(far if len(far) else slopes, (0.1, 0.9))
    (mid,) = _quantiles(y - s * x, (0.5,))
    return _Fit(s, s10, s90, mid + s * now)


def _trend(x: Floats, y: Floats, now: float, p: Params) -> _Fit | None:
    """The trend of one segment: the smaller Theil-Sen slope of its last 24 h and its last 8 h."""
    w = x >= now - p.trend_window_s
    xw, yw = x[w], y[w]
    if len(xw) < 4 or xw[-1] - xw[0] < p.min_fit_s:
        return None
    full = _theil_sen(xw, yw, now)
    r = xw >= now - p.recent_window_s
    if r.sum() < 3 or xw[r][-1] - xw[r][0] < p.min_fit_s / 2:
        return full
    recent = _theil_sen(xw[r], yw[r], now)
    slope = min(full.slope, recent.slope)
    (mid,) = _quantiles(yw[r] - slope * xw[r], (0.5,))
    level = mid + slope * now
    return _Fit(slope, min(full.s10, recent.s10), min(full.s90, recent.s90), level)


def _segments(y: Sequence[float], drop: float) -> list[tuple[int, int]]:
    """(start, peak) index of each segment between big drops; the last one is the current segment."""
    segs: list[tuple[int, int]] = []
    start = peak = 0
    falling = False
    for i in range(1, len(y)):
        yi = y[i]
        if falling:
            if yi <= y[start]:
                start = peak = i
                continue
            falling = False
        if yi >= y[peak]:
            peak = i
        elif yi < y[peak] - drop:
            segs.append((start, peak))
            start = peak = i
            falling = True
    segs.append((start, peak))
    return segs


def _buckets(t: Floats, v: Floats, width: float) -> tuple[Floats, Floats]:
    """Maximum of each bucket of `width` seconds, at the time of the bucket's last sample."""
    idx = ((t - t[0]) // width).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    ends = np.r_[starts[1:], len(t)] - 1
    return t[ends], np.maximum.reduceat(v, starts)


def _eta(fit: _Fit, threshold: float, regime: str) -> Forecast | None:
    if fit.slope <= 0.0:
        return None
    gap = max(threshold - fit.level, 0.0)
    eta = gap / fit.slope
    low = min(eta, gap / fit.s90) if fit.s90 > 0 else eta
    high = max(eta, gap / fit.s10) if fit.s10 > 0 else math.inf
    return Forecast(eta, low, high, fit.slope * HOUR, fit.level, regime)


def forecast(t: Floats, v: Floats, *, threshold: float = 0.9, params: Params | None = None) -> Forecast | None:
    """When `v` will reach `threshold`, seen from its last sample; None without evidence of an upward trend."""
    p = params or Params()
    if len(t) < 4 or t[-1] - t[0] < p.min_history_s:
        return None
    now = float(t[-1])
    if v[-1] >= threshold:
        return Forecast(0.0, 0.0, 0.0, 0.0, float(v[-1]), "over")
    lo = int(np.searchsorted(t, now - p.lookback_s, side="left"))
    tw, vw = t[lo:], v[lo:]
    width = max((now - float(tw[0])) / p.max_buckets, 1e-9)
    x, y = _buckets(tw, vw, width)
    segs = _segments(y.tolist(), p.drop)
    cur_start, cur_peak = segs[-1]
    tooth = _trend(x[cur_start:], y[cur_start:], now, p)
    tooth_fc = _eta(tooth, threshold, "trend") if tooth is not None else None
    if len(segs) < 2:  # no drop: the trend
        return tooth_fc
    # Expected period: the median of the complete segments, or with a single drop the first segment, whose start
    # the window cut (a lower bound: a daily rotation seen once is not mistaken for a fill within its first day).
    starts = x[[s for s, _ in segs[1:]]] if len(segs) >= 3 else np.array([x[0], x[cur_start]])
    remaining = float(np.median(np.diff(starts))) - (now - float(x[cur_start]))
    if tooth_fc is not None and tooth_fc.eta_s <= max(remaining, 0.0):
        return Forecast(tooth_fc.eta_s, tooth_fc.low_s, tooth_fc.high_s, tooth_fc.slope_per_h, tooth_fc.level, "tooth")
    peaks = [pk for _, pk in segs[:-1]]
    if y[cur_peak] > y[peaks[-1]]:  # the current tooth is already above the last peak: a lower bound of its own
        peaks.append(cur_peak)
    if len(peaks) < 3:
        return None
    env = _theil_sen(x[peaks], y[peaks], now)
    env = _Fit(env.slope, env.s10, env.s90, max(env.level, float(y[cur_peak])))
    return _eta(env, threshold, "envelope")


def warns(f: Forecast | None, horizon_s: float) -> bool:
    return f is not None and f.eta_s <= horizon_s


def debounce(raw: Sequence[bool], k: int) -> list[bool]:
    """The warning state: switches on after `k` consecutive True, off after `k` consecutive False."""
    state = False
    run = 0
    out: list[bool] = []
    for r in raw:
        run = run + 1 if r != state else 0
        if run >= k:
            state, run = r, 0
        out.append(state)
    return out
