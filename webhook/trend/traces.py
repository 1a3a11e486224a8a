"""A seeded corpus of fill traces (used fraction of capacity, 0..1) for the exhaustion backtest and its tests.

Pure: `corpus(seed)` returns the same traces for the same seed. Each trace is `days` long, sampled every
`step_s` from 2024-01-01T00:00Z, with Gaussian noise of 0.005, clipped to [0, 1]. `CROSSING` names the traces
that reach 0.9; the others never do (their noise stays far enough below).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
START = 1_704_067_200.0  # 2024-01-01T00:00:00Z
DAY = 86_400.0
HOUR = 3600.0

CROSSING = frozenset({"linear_fill", "fast_fill", "slow_leak", "sawtooth_creeping", "gc_leak", "nightly_drain_growing"})


def _saw(h: Floats, period_h: float, low: float, high: float) -> Floats:
    phase: Floats = np.mod(h, period_h) / period_h
    return low + (high - low) * phase


def _shapes() -> dict[str, Callable[[Floats], Floats]]:
    """Each shape maps hours since the start to the noiseless used fraction."""

    def nightly(h: Floats, growth_per_day: float) -> Floats:
        hod = np.mod(h, 24.0)
        day = np.floor(h / 24.0)
        base = 0.3 + growth_per_day * day
        fill = base + 0.4 * np.clip((hod - 2.0) / 20.0, 0.0, 1.0)  # 02:00-22:00 fills by 0.4
        drain = base + 0.4 * np.clip(1.0 - hod / 2.0, 0.0, 1.0)  # 00:00-02:00 drains it (from the night before)
        out: Floats = np.where(hod < 2.0, drain, fill)
        return out

    return {
        "linear_fill": lambda h: 0.3 + 0.6 * h / (5 * 24.0),  # crosses 0.9 at 120 h
        "fast_fill": lambda h: np.where(h < 72.0, 0.5, 0.5 + 0.4 * (h - 72.0) / 30.0),  # flat, then 30 h to cross
        "slow_leak": lambda h: 0.25 + 0.1 * h / 24.0,  # crosses at 156 h
        "flat_noisy": lambda h: np.full_like(h, 0.55),
        "sawtooth_stable": lambda h: _saw(h, 6.0, 0.35, 0.75),  # rotation every 6 h, never crosses
        "sawtooth_daily": lambda h: _saw(h, 24.0, 0.2, 0.8),  # nightly rotation
        "sawtooth_creeping": lambda h: _saw(h, 8.0, 0.3, 0.6) + 0.06 * h / 24.0,  # peaks creep, cross ~day 5
        "burst_then_flat": lambda h: 0.4 + 0.35 * np.clip((h - 72.0) / 1.0, 0.0, 1.0),  # +0.35 in 1 h at 72 h
        "burst_then_flat_late": lambda h: 0.5 + 0.3 * np.clip((h - 100.0) / 0.5, 0.0, 1.0),
        "gc_stable": lambda h: _saw(h, 2.0, 0.35, 0.7),  # heap: GC every 2 h
        "gc_leak": lambda h: _saw(h, 2.0, 0.3, 0.6) + 0.06 * h / 24.0,  # the floor after GC leaks, cross ~day 5
        "fill_then_gc_drop": lambda h: np.where(
            np.mod(h, 48.0) < 40.0, 0.35 + 0.35 * np.mod(h, 48.0) / 40.0, 0.35
        ),  # a slow fill (0.7 in 40 h) then a big cleanup
        "nightly_drain": lambda h: nightly(h, 0.0),
        "nightly_drain_growing": lambda h: nightly(h, 0.05),  # peaks 0.7 + 0.05/day: cross on day 5
    }


def corpus(seed: int = 0, *, days: float = 8.0, step_s: float = 300.0) -> dict[str, tuple[Floats, Floats]]:
    """name -> (timestamps in epoch seconds, used fraction)."""
    rng = np.random.default_rng(seed)
    t: Floats = START + np.arange(0.0, days * DAY, step_s)
    h = (t - START) / HOUR
    out: dict[str, tuple[Floats, Floats]] = {}
    for name, shape in _shapes().items():
        v: Floats = np.clip(shape(h) + rng.normal(0.0, 0.005, len(t)), 0.0, 1.0)
        out[name] = (t, v)
    return out
