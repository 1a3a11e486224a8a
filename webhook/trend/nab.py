"""The NAB score, re-implemented from the paper (pure; no I/O).

Lavin & Ahmad 2015, "Evaluating Real-time Anomaly Detection Algorithms - the Numenta Anomaly Benchmark"
(arXiv 1510.03336). NAB's own code is not copied; the choices below are ours where the paper is silent:

- Positions are counted in rows (the series are regularly sampled). A window is ``[start, end]`` in row
  indices, both inclusive, of length ``L = end - start + 1``; windows of one series are sorted and disjoint.
- Scaled sigmoid ``sigma(y) = 2 / (1 + exp(5 y)) - 1``.
- A detection is a row whose anomaly score is ``>= threshold`` (the threshold is chosen by the caller).
- Inside a window only the earliest detection counts: ``A_TP * sigma(y)`` with ``y = -(end - i + 1) / L``
  (``y = -1`` at the start, so a detection at the start scores ``A_TP * 0.9866``, near 0 at the end).
  Later detections in the same window score nothing.
- A detection outside every window is a false positive: ``A_FP * sigma(y)`` with ``y = (i - end) / L`` for
  the preceding window (negative, tending to ``-A_FP``); ``-A_FP`` when no window precedes it. Every such
  row counts (no deduplication in the scorer).
- A window with no detection costs ``-A_FN``. True negatives score 0 (``A_TN`` is listed for completeness).
- Probationary period: the first 15 % of the rows of each series (``floor(0.15 n)``) are not scored:
  detections there are ignored and a window ending inside it is dropped (from raw, null and perfect alike).
- Normalisation over the corpus: ``100 * (raw - null) / (perfect - null)`` with the sums over all series;
  null = no detection at all (every window missed, ``-A_FN`` each), perfect = every window detected at its
  first row (``A_TP * sigma(-1)`` each). A corpus with no window cannot be normalised (``ValueError``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

PROBATION_FRACTION = 0.15


@dataclass(frozen=True)
class Profile:
    name: str
    a_tp: float
    a_fp: float
    a_fn: float
    a_tn: float = 1.0


PROFILES: tuple[Profile, ...] = (
    Profile("standard", a_tp=1.0, a_fp=0.11, a_fn=1.0),
    Profile("reward_low_FP_rate", a_tp=1.0, a_fp=0.22, a_fn=1.0),
    Profile("reward_low_FN_rate", a_tp=1.0, a_fp=0.11, a_fn=2.0),
)


def sigmoid(y: float) -> float:
    """NAB's scaled sigmoid: 0.9866 at -1, 0 at 0, tending to -1 for large y."""
    return 2.0 / (1.0 + math.exp(min(5.0 * y, 700.0))) - 1.0


def _sigmoid_arr(y: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 2.0 / (1.0 + np.exp(np.minimum(5.0 * y, 700.0))) - 1.0


def probation_rows(n: int) -> int:
    return math.floor(PROBATION_FRACTION * n)


@dataclass(frozen=True)
class Counts:
    """The profile-independent parts of a raw score: sum of TP sigmoids, FP sigmoids (<= 0), misses."""

    tp: float
    fp: float
    missed: int
    windows: int

    def raw(self, p: Profile) -> float:
        return p.a_tp * self.tp + p.a_fp * self.fp - p.a_fn * self.missed

    def null(self, p: Profile) -> float:
        return -p.a_fn * self.windows

    def perfect(self, p: Profile) -> float:
        return p.a_tp * sigmoid(-1.0) * self.windows

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.missed + other.missed,
                      self.windows + other.windows)


ZERO = Counts(0.0, 0.0, 0, 0)


def scored_windows(windows: list[tuple[int, int]], n: int) -> list[tuple[int, int]]:
    """The windows that count: those ending at or after the end of the probationary period."""
    prob = probation_rows(n)
    return sorted((s, e) for s, e in windows if e >= prob)


def count(detections: npt.NDArray[np.int64], windows: list[tuple[int, int]], n: int) -> Counts:
    """Score sorted detection row indices against the windows of one series of n rows."""
    wins = scored_windows(windows, n)
    det = detections[detections >= probation_rows(n)]
    starts = np.array([s for s, _ in wins], dtype=np.int64)
    ends = np.array([e for _, e in wins], dtype=np.int64)
    lengths = (ends - starts + 1).astype(np.float64)
    # earliest detection in each window
    k = np.searchsorted(det, starts, side="left")
    if len(det):
        first = det[np.minimum(k, len(det) - 1)]
        hit = (k < len(det)) & (first <= ends)
    else:
        first = starts
        hit = np.zeros(len(starts), dtype=bool)
    y_tp = -(ends[hit] - first[hit] + 1) / lengths[hit]
    tp = float(_sigmoid_arr(y_tp.astype(np.float64)).sum())
    # detections outside every window
    w = np.searchsorted(starts, det, side="right") - 1
    inside = (w >= 0) & (det <= ends[np.maximum(w, 0)]) if len(ends) else np.zeros(len(det), dtype=bool)
    out_w = w[~inside]
    out_det = det[~inside]
    fp = -float(np.count_nonzero(out_w < 0))
    after = out_w >= 0
    if np.any(after):
        y_fp = (out_det[after] - ends[out_w[after]]) / lengths[out_w[after]]
        fp += float(_sigmoid_arr(y_fp.astype(np.float64)).sum())
    return Counts(tp=tp, fp=fp, missed=int(len(wins) - np.count_nonzero(hit)), windows=len(wins))


def normalised(total: Counts, p: Profile) -> float:
    null, perfect = total.null(p), total.perfect(p)
    if perfect == null:
        raise ValueError("no scored window: the score cannot be normalised")
    return 100.0 * (total.raw(p) - null) / (perfect - null)
