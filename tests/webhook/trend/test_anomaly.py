"""NAB scorer, the three detectors and `tocsin trend backtest anomaly` on a tiny NAB-layout corpus."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from webhook.cli import main
from webhook.trend import nab
from webhook.trend.anomaly import DETECTORS, same_hour_last_week, tocsin, windowed_gaussian

STD = nab.PROFILES[0]
N = 1000  # probation: rows 0..149
WIN = [(400, 499)]


def det(*rows: int) -> npt.NDArray[np.int64]:
    return np.array(sorted(rows), dtype=np.int64)


def test_profiles_match_the_paper() -> None:
    by = {p.name: p for p in nab.PROFILES}
    assert (by["standard"].a_tp, by["standard"].a_fp, by["standard"].a_fn) == (1.0, 0.11, 1.0)
    assert by["reward_low_FP_rate"].a_fp == 0.22
    assert by["reward_low_FN_rate"].a_fn == 2.0
    assert nab.sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-4)
    assert nab.sigmoid(0.0) == 0.0


def test_detection_at_window_start_scores_about_a_tp() -> None:
    c = nab.count(det(400), WIN, N)
    assert c.raw(STD) == pytest.approx(STD.a_tp * nab.sigmoid(-1.0))
    assert c.missed == 0


def test_later_detection_scores_less_and_only_the_first_counts() -> None:
    late = nab.count(det(480), WIN, N).raw(STD)
    assert 0 < late < nab.count(det(400), WIN, N).raw(STD)
    assert nab.count(det(400, 410, 480), WIN, N).raw(STD) == pytest.approx(nab.count(det(400), WIN, N).raw(STD))


def test_missed_window_costs_a_fn() -> None:
    for p in nab.PROFILES:
        assert nab.count(det(), WIN, N).raw(p) == -p.a_fn


def test_false_positives() -> None:
    # before any window: -A_FP each; right after a window: small; far after: close to -A_FP
    before = nab.count(det(200, 300, 400), WIN, N)
    assert before.fp == pytest.approx(-2.0)
    assert before.raw(STD) == pytest.approx(nab.sigmoid(-1.0) - 2 * 0.11)
    just_after = nab.count(det(400, 501), WIN, N).fp
    far_after = nab.count(det(400, 990), WIN, N).fp
    assert -0.2 < just_after < 0
    assert far_after < -0.99
    # probationary period: ignored
    assert nab.count(det(10, 100, 400), WIN, N).fp == 0.0


def test_normalisation_null_zero_perfect_hundred() -> None:
    wins = [(200, 299), (600, 649)]
    for p in nab.PROFILES:
        null = nab.count(det(), wins, N)
        perfect = nab.count(det(200, 600), wins, N)
        assert nab.normalised(null, p) == pytest.approx(0.0)
        assert nab.normalised(perfect, p) == pytest.approx(100.0)
        assert nab.normalised(null + perfect, p) == pytest.approx(50.0)
    with pytest.raises(ValueError):
        nab.normalised(nab.count(det(300), [], N), STD)


def test_window_inside_probation_is_dropped() -> None:
    assert nab.count(det(), [(10, 50)], N).windows == 0


def _ts(n: int, step: int = 300) -> npt.NDArray[np.int64]:
    return (1_400_000_000 + step * np.arange(n)).astype(np.int64)


@pytest.mark.parametrize("name", ["tocsin", "windowed_gaussian"])
def test_spike_scored_high_flat_low(name: str) -> None:
    rng = np.random.default_rng(0)
    n = 3000
    x = 100.0 + rng.normal(0, 1.0, n)
    x[2500] += 40.0
    s = DETECTORS[name](_ts(n), x)
    assert s.shape == (n,)
    assert np.all((s >= 0) & (s <= 1))
    assert s[2500] == s.max()
    assert np.all(DETECTORS[name](_ts(n), np.full(n, 5.0)) == 0.0)


def test_scores_are_streaming() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(10, 1, 4000)
    for fn in DETECTORS.values():
        full = fn(_ts(4000), x)
        assert np.allclose(full[:2000], fn(_ts(2000), x[:2000]))


def test_tocsin_handles_daily_seasonality() -> None:
    rng = np.random.default_rng(2)
    n = 288 * 14
    t = np.arange(n)
    x = 100 + 50 * np.sin(2 * math.pi * t / 288) + rng.normal(0, 1, n)
    x[288 * 12 + 100] += 25.0  # small against the daily swing, large against the same time of day
    s = tocsin(_ts(n), x, damp=1.0)  # without the deduplication
    assert int(np.argmax(s[288 * 8:])) + 288 * 8 == 288 * 12 + 100
    # the daily peaks and troughs themselves are not anomalies
    assert np.quantile(s[288 * 8:], 0.99) < 0.5 * s.max()


def test_tocsin_deduplicates_a_sustained_shift() -> None:
    rng = np.random.default_rng(5)
    n = 3000
    x = 100 + rng.normal(0, 1, n)
    x[2000:2300] += 30
    raw = tocsin(_ts(n), x, damp=1.0)
    s = tocsin(_ts(n), x)
    top = float(s[2000:2300].max())
    assert top == float(raw[2000:2300].max()) and top > 0.7
    assert np.count_nonzero(s[2000:2300] >= 0.5 * top) <= 10 < np.count_nonzero(raw[2000:2300] >= 0.5 * top)


def test_same_hour_last_week() -> None:
    n = 288 * 9
    x = np.tile(np.arange(288, dtype=np.float64), 9) + np.random.default_rng(3).normal(0, 1, n)
    x[288 * 8 + 50] += 30
    s = same_hour_last_week(_ts(n), x)
    assert np.all(s[: 288 * 7] == 0.0)  # no value a week earlier
    assert int(np.argmax(s)) == 288 * 8 + 50
    assert windowed_gaussian(_ts(2), np.array([1.0, 2.0])).tolist() == [0.0, 0.0]


def _write_series(path: Path, x: npt.NDArray[np.float64]) -> list[str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    stamps = [np.datetime_as_string(np.datetime64(int(t), "s"), unit="s").replace("T", " ") for t in _ts(len(x))]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "value"])
        w.writerows(zip(stamps, x.tolist(), strict=True))
    return stamps


def test_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(4)
    data = tmp_path / "data"
    n = 288 * 9
    a = 50 + rng.normal(0, 1, n)
    a[2200:2210] += 20
    sa = _write_series(data / "g1" / "a.csv", a)
    b = 10 + rng.normal(0, 0.5, n)
    b[1800] -= 8
    sb = _write_series(data / "g2" / "b.csv", b)
    _write_series(data / "g2" / "unlabelled.csv", b)
    labels = {
        "g1/a.csv": [[sa[2150] + ".000000", sa[2250] + ".000000"]],
        "g2/b.csv": [[sb[1750], sb[1850]]],
    }
    lab = tmp_path / "windows.json"
    lab.write_text(json.dumps(labels))
    out = tmp_path / "out"
    rc = main(["trend", "backtest", "anomaly", str(data), "--labels", str(lab), "--json", "--detections", str(out)])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    for scores in res.values():
        assert set(scores) == {"tocsin", "windowed_gaussian", "same_hour_last_week"}
        assert scores["tocsin"] > 50
    with (out / "g1" / "tocsin_a.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["timestamp", "value", "anomaly_score", "label"]
    assert len(rows) == n
    assert sum(int(r["label"]) for r in rows) == 101
    assert {p.name for p in (out / "g2").iterdir()} == {f"{m}_b.csv" for m in DETECTORS}
    # the table
    assert main(["trend", "backtest", "anomaly", str(data), "--labels", str(lab)]) == 0
    text = capsys.readouterr().out
    assert "reward_low_FN_rate" in text and "g1" in text


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lab = tmp_path / "w.json"
    lab.write_text("{}")
    assert main(["trend", "backtest", "anomaly", str(tmp_path / "nope"), "--labels", str(lab)]) == 2
    assert main(["trend", "backtest", "anomaly", str(tmp_path), "--labels", str(lab)]) == 2
    assert "no labelled window" in capsys.readouterr().err
