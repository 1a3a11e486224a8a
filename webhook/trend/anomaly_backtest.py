"""`tocsin trend backtest anomaly DIR --labels FILE`: the three detectors scored the NAB way.

- Corpus: DIR/<group>/<series>.csv (``timestamp,value``) and NAB's windows file (``"<group>/<series>.csv"``
  -> list of ``[start, end]`` timestamps). Only series present in the labels file are scored (a series with
  an empty list is scored: every detection after its probationary period is a false positive). A window is
  mapped to the rows whose timestamps fall inside it.
- Threshold: as in NAB, one threshold per detector and profile, optimised over the whole corpus: the
  candidates are 0.00, 0.01, ..., 1.00 and the quantiles 1 - q of the pooled scores for q log-spaced from
  1e-5 to 0.5; the one with the best corpus score wins (ties: the first, i.e. the lowest, candidate).
- Scores per profile: ``webhook.trend.nab.normalised`` over the corpus (null 0, perfect 100). The table also
  shows the chosen threshold and the per-group scores at that threshold (a group with no window: "-").
- ``--json``: ``{profile: {detector: score}}``. ``--detections OUT``: OUT/<group>/<detector>_<series>.csv
  with ``timestamp,value,anomaly_score,label`` (label 1 inside a window).
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from webhook.trend import nab
from webhook.trend.anomaly import DETECTORS


@dataclass
class Series:
    key: str  # "<group>/<series>.csv"
    stamps: list[str]
    ts: npt.NDArray[np.int64]
    x: npt.NDArray[np.float64]
    windows: list[tuple[int, int]]

    @property
    def group(self) -> str:
        return self.key.split("/", 1)[0]


def _epoch(stamps: list[str]) -> npt.NDArray[np.int64]:
    return np.array([s.strip().replace(" ", "T") for s in stamps], dtype="datetime64[s]").astype(np.int64)


def load(data_dir: Path, labels: Path) -> list[Series]:
    raw: dict[str, list[list[str]]] = json.loads(labels.read_text())
    out: list[Series] = []
    for key in sorted(raw):
        path = data_dir / key
        if not path.is_file():
            continue
        with path.open(newline="") as f:
            rows = [r for r in csv.reader(f)][1:]
        stamps = [r[0] for r in rows if len(r) >= 2]
        x = np.array([float(r[1]) for r in rows if len(r) >= 2], dtype=np.float64)
        ts = _epoch(stamps)
        wins: list[tuple[int, int]] = []
        for start, end in raw[key]:
            s_i = int(np.searchsorted(ts, _epoch([start])[0], side="left"))
            e_i = int(np.searchsorted(ts, _epoch([end])[0], side="right")) - 1
            if e_i >= s_i:
                wins.append((s_i, e_i))
        out.append(Series(key, stamps, ts, x, wins))
    return out


def candidates(pooled: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    qs = np.quantile(pooled, 1.0 - np.geomspace(1e-5, 0.5, 120)) if len(pooled) else np.array([])
    return np.unique(np.concatenate((np.linspace(0.0, 1.0, 101), qs)))


@dataclass
class Result:
    threshold: float
    score: float
    groups: dict[str, float | None]


def optimise(series: list[Series], scores: list[npt.NDArray[np.float64]]) -> dict[str, Result]:
    """Per profile: the corpus-optimal threshold, its normalised score and the per-group scores."""
    ths = candidates(np.concatenate(scores) if scores else np.array([]))
    per_th: list[list[nab.Counts]] = []
    for th in ths:
        per_th.append([nab.count(np.flatnonzero(sc >= th).astype(np.int64), s.windows, len(s.x))
                       for s, sc in zip(series, scores, strict=True)])
    results: dict[str, Result] = {}
    for p in nab.PROFILES:
        best_i, best = 0, -np.inf
        for i, counts in enumerate(per_th):
            total = sum(counts, nab.ZERO)
            v = nab.normalised(total, p)
            if v > best:
                best_i, best = i, v
        groups: dict[str, float | None] = {}
        for g in sorted({s.group for s in series}):
            gt = sum((c for s, c in zip(series, per_th[best_i], strict=True) if s.group == g), nab.ZERO)
            groups[g] = nab.normalised(gt, p) if gt.windows else None
        results[p.name] = Result(float(ths[best_i]), float(best), groups)
    return results


def _write_detections(out: Path, name: str, s: Series, score: npt.NDArray[np.float64]) -> None:
    group, file = s.key.split("/", 1)
    label = np.zeros(len(s.x), dtype=int)
    for a, b in s.windows:
        label[a:b + 1] = 1
    (out / group).mkdir(parents=True, exist_ok=True)
    with (out / group / f"{name}_{file}").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "value", "anomaly_score", "label"])
        for row in zip(s.stamps, s.x.tolist(), score.tolist(), label.tolist(), strict=True):
            w.writerow([row[0], repr(row[1]), f"{row[2]:.6f}", row[3]])


def run(data_dir: Path, labels: Path, *, as_json: bool, detections: Path | None) -> int:
    if not data_dir.is_dir() or not labels.is_file():
        print(f"error: need a data directory and a labels file ({data_dir}, {labels})", file=sys.stderr)
        return 2
    series = load(data_dir, labels)
    if not any(s.windows for s in series):
        print("error: no labelled window in the corpus", file=sys.stderr)
        return 2
    table: dict[str, dict[str, Result]] = {}
    for name, fn in DETECTORS.items():
        scores = [fn(s.ts, s.x) for s in series]
        table[name] = optimise(series, scores)
        if detections is not None:
            for s, sc in zip(series, scores, strict=True):
                _write_detections(detections, name, s, sc)
    if as_json:
        print(json.dumps({p.name: {m: round(table[m][p.name].score, 2) for m in DETECTORS} for p in nab.PROFILES},
                         indent=2))
        return 0
    print(f"{len(series)} series, {sum(len(s.windows) for s in series)} windows")
    for p in nab.PROFILES:
        print(f"\n{p.name}")
        groups = sorted({s.group for s in series})
        print(f"  {'detector':<22}{'score':>8}{'threshold':>11}  " + "  ".join(groups))
        for m in DETECTORS:
            r = table[m][p.name]
            gs = "  ".join(f"{'-' if r.groups[g] is None else format(r.groups[g], '.1f'):>{len(g)}}" for g in groups)
            print(f"  {m:<22}{r.score:>8.1f}{r.threshold:>11.4f}  {gs}")
    return 0
