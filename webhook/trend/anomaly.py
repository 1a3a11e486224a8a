"""Three streaming anomaly detectors (pure numpy): each score in [0, 1] uses only the past and present rows.

Inputs: ``ts`` (int64 epoch seconds, increasing) and ``x`` (float64 values) of one series.

- ``windowed_gaussian`` (baseline, as NAB's): z = |x - mean| / std over the previous 6400 rows,
  score = erf(z / sqrt 2) (one minus the two-sided tail probability); 0 with fewer than 2 past rows or std 0.
- ``same_hour_last_week`` (baseline): d = x - (the value exactly 7 days earlier, matched on the timestamp);
  score = erf(|d| / s / sqrt 2) with s the standard deviation of the previous 2016 available d; 0 when no
  such value exists (series shorter than a week, or a gap).
- ``tocsin``: robust, seasonal, deduplicated.
  1. baselines: the median of the previous ``w`` rows (``w`` = one day of rows, clipped to 12..288,
     recomputed every ``w/24`` rows); when available (matched on the timestamp), the median of the values at
     the same time of day 1..7 days earlier (at least 2 of them) and at the same time of week 1..3 weeks
     earlier (at least 2 of them);
  2. per baseline, a residual scale: 1.2533 x the mean absolute residual over the previous ``4 w`` rows,
     floored by the volume floor 2 % of the mean |x| over the same rows (small absolute changes of a
     small signal never look large);
  3. z = |residual| / scale of the available baseline with the smallest recent mean absolute residual
     (the one that has predicted best lately: on a daily or weekly cycle, the seasonal one, so the cycle
     itself is not an anomaly);
  4. persistence: z' = max(min(z_t, z_t-1), z_t / 2) (two rows off, or a single very large excursion);
  5. score = z' / (z' + 3);
  6. deduplication (an alerting engine notifies once per incident): a score that is not above every score
     of the previous ``cooldown_days`` (7) days of rows is damped to ``damp`` (10 %) of it, so an incident
     raises the score once and again only when it gets worse.
  The defaults were chosen on NAB itself (in-sample; docs/prevention.md gives the sensitivity): the keyword
  arguments ``floor_frac``, ``persist``, ``damp``, ``cooldown_days``, ``scale_rows`` (the scale window in
  multiples of ``w``) expose them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

DAY = 86_400
WEEK = 7 * DAY
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _rolling_mean_std(x: Floats, w: int) -> tuple[Floats, Floats, Ints]:
    """Mean, std and count of the finite values among the previous ``w`` rows (the current row excluded)."""
    ok = np.isfinite(x)
    v = np.where(ok, x, 0.0)
    c0 = np.concatenate(([0], np.cumsum(ok))).astype(np.int64)
    s1 = np.concatenate(([0.0], np.cumsum(v)))
    s2 = np.concatenate(([0.0], np.cumsum(v * v)))
    t = np.arange(len(x))
    lo = np.maximum(t - w, 0)
    cnt = c0[t] - c0[lo]
    safe = np.maximum(cnt, 1)
    mean = (s1[t] - s1[lo]) / safe
    var = np.maximum((s2[t] - s2[lo]) / safe - mean * mean, 0.0)
    return mean, np.sqrt(var), cnt


def _rolling_median(x: Floats, w: int, step: int) -> Floats:
    """Median of the previous ``w`` rows (current excluded), recomputed every ``step`` rows; NaN at row 0."""
    n = len(x)
    out = np.full(n, np.nan)
    block_starts = np.arange(0, n, step)
    meds = np.full(len(block_starts), np.nan)
    full = block_starts >= w
    for j in np.flatnonzero(~full):
        t0 = int(block_starts[j])
        if t0 > 0:
            meds[j] = float(np.median(x[:t0]))
    if np.any(full) and n > w:
        views = sliding_window_view(x, w)  # views[i] = x[i:i+w]
        meds[full] = np.median(views[block_starts[full] - w], axis=1)
    out[:] = np.repeat(meds, step)[:n]
    return out


def _lagged(ts: Ints, x: Floats, lag: int) -> Floats:
    """x at exactly ts - lag (NaN when there is no such row)."""
    target = ts - lag
    idx = np.searchsorted(ts, target)
    idx_c = np.minimum(idx, len(ts) - 1)
    ok = (idx < len(ts)) & (ts[idx_c] == target)
    return np.where(ok, x[idx_c], np.nan)


def _rows_per_day(ts: Ints) -> int:
    if len(ts) < 2:
        return 1
    step = float(np.median(np.diff(ts)))
    return max(1, round(DAY / step)) if step > 0 else 1


def windowed_gaussian(ts: Ints, x: Floats, window: int = 6400) -> Floats:
    mean, std, cnt = _rolling_mean_std(x, window)
    good = (cnt >= 2) & (std > 0)
    z = np.where(good, np.abs(x - mean) / np.where(good, std, 1.0), 0.0)
    return np.asarray(_erf(z / math.sqrt(2.0)), dtype=np.float64)


def same_hour_last_week(ts: Ints, x: Floats, window: int = 2016) -> Floats:
    d = x - _lagged(ts, x, WEEK)
    _, std, cnt = _rolling_mean_std(d, window)
    good = np.isfinite(d) & (cnt >= 2) & (std > 0)
    z = np.where(good, np.abs(np.nan_to_num(d)) / np.where(good, std, 1.0), 0.0)
    return np.asarray(_erf(z / math.sqrt(2.0)), dtype=np.float64)


def _seasonal_median(ts: Ints, x: Floats, period: int, k: int) -> Floats:
    lags = np.stack([_lagged(ts, x, i * period) for i in range(1, k + 1)], axis=1)
    avail = np.isfinite(lags).sum(axis=1)
    out = np.full(len(x), np.nan)
    rows = avail >= 2
    if np.any(rows):
        sub = np.sort(np.where(np.isfinite(lags[rows]), lags[rows], np.inf), axis=1)
        cnt = avail[rows]
        lo, hi = (cnt - 1) // 2, cnt // 2
        r = np.arange(len(sub))
        out[rows] = (sub[r, lo] + sub[r, hi]) / 2.0
    return out


def tocsin(ts: Ints, x: Floats, *, floor_frac: float = 0.02, persist: bool = True, damp: float = 0.1,
           cooldown_days: float = 7.0, scale_rows: int = 4) -> Floats:
    n = len(x)
    if n < 3:
        return np.zeros(n)
    day = _rows_per_day(ts)
    w = int(min(max(day, 12), 288))
    floor_mean, _, _ = _rolling_mean_std(np.abs(x), scale_rows * w)
    floor = floor_frac * floor_mean + 1e-9
    best_scale = np.full(n, np.inf)
    z = np.zeros(n)
    for b in (_rolling_median(x, w, max(1, w // 24)),
              _seasonal_median(ts, x, DAY, 7), _seasonal_median(ts, x, WEEK, 3)):
        r = np.abs(x - b)
        mad, _, cnt = _rolling_mean_std(r, scale_rows * w)
        usable = np.isfinite(r) & (cnt >= 6)
        better = usable & (mad < best_scale)
        best_scale = np.where(better, mad, best_scale)
        z = np.where(better, r / np.maximum(1.2533 * mad, floor), z)
    z[:w] = 0.0  # warm-up
    prev = np.concatenate(([0.0], z[:-1]))
    zp = np.maximum(np.minimum(z, prev), z / 2.0) if persist else z
    score = zp / (zp + 3.0)
    return _dedup(score, max(1, round(cooldown_days * day)), damp)


def _dedup(score: Floats, cooldown: int, damp: float) -> Floats:
    """Damp every score not above the maximum of the previous ``cooldown`` rows."""
    padded = np.concatenate((np.zeros(cooldown), score))
    prev_max = sliding_window_view(padded[:-1], cooldown).max(axis=1)
    return np.where(score > prev_max, score, damp * score)


Detector = Callable[[Ints, Floats], Floats]

DETECTORS: dict[str, Detector] = {
    "tocsin": tocsin,
    "windowed_gaussian": windowed_gaussian,
    "same_hour_last_week": same_hour_last_week,
}
