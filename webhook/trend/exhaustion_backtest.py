"""`tocsin trend backtest exhaustion DIR`: rolling-origin backtest of `webhook.trend.exhaustion` and a baseline.

Input: every `*.csv` in DIR is one series, lines `timestamp,value` (an optional `timestamp,value` header);
timestamp is epoch seconds or ISO 8601 (naive means UTC), strictly increasing; value is the used fraction of
capacity, within [0, 1]. A bad file is an error naming the file and line (exit code 2), so is an empty DIR.

Rolling origin: for each series the origins run every `max(600 s, median sampling interval)` from 6 h after its
first sample (the baseline's window) up to its true crossing (the first sample at or above the threshold),
excluded, or its last sample. At each origin both methods see only the samples at or before it. A series that
starts at or above the threshold has no origin.

Warning state, per origin:
- method: `exhaustion.forecast(...)` ETA <= 24 h, debounced (3 consecutive agreeing forecasts to switch on or
  off; with 10-minute origins that is 20 minutes);
- baseline: the node_exporter rule `predict_linear(x[6h], 24*3600) >= threshold`: the least-squares line over the
  last 6 h (at least 2 samples), extrapolated 24 h past the origin; no `for:`. Its ETA is where that line reaches
  the threshold.

A warning episode is a maximal run of origins in warning state; its onset is its first origin. It is *true* when
the series crosses after the onset and either within 24 h of it or while the episode is still on (it lasts up to
the last origin); otherwise it is *false*.

Keys (the same for the method at top level and for `baseline`):
- `series`: number of series; `crossings`: number of series with a true crossing (and at least one origin);
- `recall`: fraction of the crossings whose first true episode began at least 1 h before the crossing (null
  without crossings);
- `lead_median_h`, `lead_p10_h`: median and 10th percentile of the lead (crossing time minus onset of the first
  true episode, hours) over the crossings with a true episode (null without any);
- `false_warnings_per_100_days`: false episodes per 100 series-days evaluated (a series contributes the span of
  its origins plus one step);
- `eta_within_30pct`: over the first true episodes, the fraction whose ETA at the onset is within 30 % of the
  true time left, |ETA - lead| <= 0.3 * lead (null without any);
- `flips_per_100_days`: on->off changes of the warning state per 100 series-days.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from webhook.trend.exhaustion import HOUR, Floats, Params, debounce, forecast, warns

DAY = 86_400.0
BASELINE_WINDOW_S = 6 * HOUR
MIN_STEP_S = 600.0
MIN_LEAD_S = HOUR


class DataError(Exception):
    """A CSV that cannot be read; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    t: Floats
    v: Floats


def _timestamp(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    dt = datetime.fromisoformat(text)  # ValueError with the caller's context
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def load_csv(path: Path) -> Series:
    ts: list[float] = []
    vs: list[float] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, 1):
            line = raw.strip()
            if not line or (lineno == 1 and line.replace(" ", "").lower() == "timestamp,value"):
                continue
            parts = line.split(",")
            where = f"{path}:{lineno}"
            if len(parts) != 2:
                raise DataError(f"{where}: expected `timestamp,value`, got {line!r}")
            try:
                t = _timestamp(parts[0].strip())
            except ValueError:
                raise DataError(f"{where}: bad timestamp {parts[0]!r} (epoch seconds or ISO 8601)") from None
            try:
                v = float(parts[1])
            except ValueError:
                raise DataError(f"{where}: bad value {parts[1]!r} (a fraction 0..1)") from None
            if not math.isfinite(t):
                raise DataError(f"{where}: bad timestamp {parts[0]!r}")
            if not (0.0 <= v <= 1.0):
                raise DataError(f"{where}: value {v} outside [0, 1] (the used fraction of capacity)")
            if ts and t <= ts[-1]:
                raise DataError(f"{where}: timestamp {parts[0]!r} does not increase")
            ts.append(t)
            vs.append(v)
    if len(ts) < 2:
        raise DataError(f"{path}: fewer than 2 samples")
    return Series(path.stem, np.asarray(ts, dtype=np.float64), np.asarray(vs, dtype=np.float64))


def load_dir(d: Path) -> list[Series]:
    if not d.is_dir():
        raise DataError(f"{d}: not a directory")
    files = sorted(d.glob("*.csv"))
    if not files:
        raise DataError(f"{d}: no *.csv file (expected one `timestamp,value` file per series)")
    return [load_csv(f) for f in files]


def _baseline_eta(t: Floats, v: Floats, now: float, threshold: float) -> float:
    """ETA (s) of the least-squares line over the last 6 h; inf when flat, falling or too few samples."""
    lo = int(np.searchsorted(t, now - BASELINE_WINDOW_S, side="left"))
    x, y = t[lo:] - now, v[lo:]
    if len(x) < 2 or x[-1] == x[0]:
        return math.inf
    xm, ym = float(x.mean()), float(y.mean())
    slope = float(((x - xm) * (y - ym)).sum() / ((x - xm) ** 2).sum())
    if slope <= 0:
        return math.inf
    at_now = ym - slope * xm
    return max(threshold - at_now, 0.0) / slope


@dataclass(slots=True)
class Score:
    series: int = 0
    crossings: int = 0
    days: float = 0.0
    leads_h: list[float] = field(default_factory=list)
    recalled: int = 0
    false_warnings: int = 0
    eta_ok: int = 0
    flips: int = 0

    def add(
        self, origins: Floats, states: list[bool], etas: list[float], t_cross: float | None, horizon: float
    ) -> None:
        self.series += 1
        if len(origins) == 0:
            return
        step = float(origins[1] - origins[0]) if len(origins) > 1 else MIN_STEP_S
        self.days += (float(origins[-1] - origins[0]) + step) / DAY
        if t_cross is not None:
            self.crossings += 1
        first_true: tuple[float, float] | None = None
        n = len(states)
        i = 0
        while i < n:
            if not states[i]:
                i += 1
                continue
            j = i
            while j + 1 < n and states[j + 1]:
                j += 1
            onset = float(origins[i])
            if j + 1 < n:
                self.flips += 1
            true = t_cross is not None and t_cross > onset and (t_cross - onset <= horizon or j == n - 1)
            if not true:
                self.false_warnings += 1
            elif first_true is None:
                first_true = (onset, etas[i])
            i = j + 1
        if t_cross is not None and first_true is not None:
            onset, eta = first_true
            lead = t_cross - onset
            self.leads_h.append(lead / HOUR)
            self.recalled += lead >= MIN_LEAD_S
            self.eta_ok += abs(eta - lead) <= 0.3 * lead

    def as_dict(self) -> dict[str, Any]:
        per100 = 100.0 / self.days if self.days else math.nan
        leads = np.asarray(self.leads_h, dtype=np.float64)

        def r(x: float) -> float | None:
            return None if math.isnan(x) else round(x, 3)

        return {
            "series": self.series,
            "crossings": self.crossings,
            "recall": r(self.recalled / self.crossings) if self.crossings else None,
            "lead_median_h": r(float(np.median(leads))) if len(leads) else None,
            "lead_p10_h": r(float(np.percentile(leads, 10.0))) if len(leads) else None,
            "false_warnings_per_100_days": r(self.false_warnings * per100),
            "eta_within_30pct": r(self.eta_ok / len(leads)) if len(leads) else None,
            "flips_per_100_days": r(self.flips * per100),
        }


@dataclass(slots=True)
class SeriesResult:
    name: str
    t_cross_h: float | None
    method: Score
    baseline: Score


def evaluate_series(s: Series, threshold: float, params: Params) -> SeriesResult:
    over = np.flatnonzero(s.v >= threshold)
    t_cross = float(s.t[over[0]]) if len(over) else None
    step = max(MIN_STEP_S, float(np.median(np.diff(s.t))))
    end = t_cross if t_cross is not None else float(s.t[-1]) + 1e-9
    origins: Floats = np.arange(float(s.t[0]) + BASELINE_WINDOW_S, end, step)
    raw_m: list[bool] = []
    eta_m: list[float] = []
    raw_b: list[bool] = []
    eta_b: list[float] = []
    for o in origins.tolist():
        n = int(np.searchsorted(s.t, o, side="right"))
        t, v = s.t[:n], s.v[:n]
        f = forecast(t, v, threshold=threshold, params=params)
        raw_m.append(warns(f, params.horizon_s))
        eta_m.append(f.eta_s if f is not None else math.inf)
        e = _baseline_eta(t, v, float(t[-1]), threshold)
        raw_b.append(e <= params.horizon_s)
        eta_b.append(e)
    m, b = Score(), Score()
    m.add(origins, debounce(raw_m, params.persistence), eta_m, t_cross, params.horizon_s)
    b.add(origins, raw_b, eta_b, t_cross, params.horizon_s)
    if len(origins) == 0:
        t_cross = None
    t_cross_h = (t_cross - float(s.t[0])) / HOUR if t_cross is not None else None
    return SeriesResult(s.name, t_cross_h, m, b)


def _merge(scores: list[Score]) -> Score:
    out = Score()
    for sc in scores:
        out.series += sc.series
        out.crossings += sc.crossings
        out.days += sc.days
        out.leads_h += sc.leads_h
        out.recalled += sc.recalled
        out.false_warnings += sc.false_warnings
        out.eta_ok += sc.eta_ok
        out.flips += sc.flips
    return out


def summarize(results: list[SeriesResult]) -> dict[str, Any]:
    out = _merge([r.method for r in results]).as_dict()
    out["baseline"] = _merge([r.baseline for r in results]).as_dict()
    return out


def _fmt(x: Any) -> str:
    return "-" if x is None else str(x)


def run(dir: Path, *, threshold: float, as_json: bool) -> int:
    if not (0.0 < threshold <= 1.0):
        print(f"error: --threshold {threshold} outside (0, 1]", file=sys.stderr)
        return 2
    try:
        series = load_dir(dir)
    except (DataError, OSError, UnicodeDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    params = Params()
    results = [evaluate_series(s, threshold, params) for s in series]
    out = summarize(results)
    if as_json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"exhaustion backtest: {len(series)} series, threshold {threshold}, horizon 24 h, warned >= 1 h ahead")
    print(f"{'series':<28}{'crosses at h':>13}{'lead h':>9}{'base lead h':>12}{'false':>7}{'base false':>11}")
    for r in results:
        lead = r.method.leads_h[0] if r.method.leads_h else None
        blead = r.baseline.leads_h[0] if r.baseline.leads_h else None
        print(
            f"{r.name:<28}{_fmt(None if r.t_cross_h is None else round(r.t_cross_h, 1)):>13}"
            f"{_fmt(None if lead is None else round(lead, 1)):>9}{_fmt(None if blead is None else round(blead, 1)):>12}"
            f"{r.method.false_warnings:>7}{r.baseline.false_warnings:>11}"
        )
    print()
    print(f"{'score':<30}{'method':>10}{'baseline':>10}")
    for key, val in out.items():
        if key != "baseline":
            print(f"{key:<30}{_fmt(val):>10}{_fmt(out['baseline'][key]):>10}")
    return 0
