"""Exhaustion forecast (webhook.trend.exhaustion) and its backtest CLI on the seeded corpus (webhook.trend.traces)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from webhook.cli import main
from webhook.trend.exhaustion import HOUR, Params, debounce, forecast, warns
from webhook.trend.exhaustion_backtest import Series, evaluate_series
from webhook.trend.traces import CROSSING, corpus

KEYS = {
    "series": int,
    "crossings": int,
    "recall": float,
    "lead_median_h": float,
    "lead_p10_h": float,
    "false_warnings_per_100_days": float,
    "eta_within_30pct": float,
    "flips_per_100_days": float,
}
SUBSET = ["linear_fill", "fast_fill", "gc_leak", "sawtooth_stable", "sawtooth_daily", "burst_then_flat", "flat_noisy"]


def _write(d: Path, names: list[str], days: float = 6.0) -> None:
    c = corpus(1, days=days, step_s=600.0)
    d.mkdir(exist_ok=True)
    for name in names:
        t, v = c[name]
        rows = "".join(f"{a:.0f},{b:.5f}\n" for a, b in zip(t, v, strict=True))
        (d / f"{name}.csv").write_text("timestamp,value\n" + rows)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        rc = main(["trend", "backtest", "exhaustion", *args])
    except SystemExit as exc:
        rc = int(exc.code or 0)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_linear_fill_eta_close_to_truth() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(0.0, 48 * HOUR, 300.0)
    v = np.clip(0.2 + 0.01 * t / HOUR + rng.normal(0.0, 0.005, len(t)), 0.0, 1.0)  # 0.68 now: 22 h to 0.9
    f = forecast(t, v)
    assert f is not None and f.regime == "trend"
    assert abs(f.eta_s / HOUR - 22.0) < 1.5
    assert f.low_s <= f.eta_s <= f.high_s
    assert warns(f, 24 * HOUR)


def test_sawtooth_below_threshold_never_warns() -> None:
    t, v = corpus(2)["sawtooth_stable"]
    for n in range(300, len(t), 13):
        assert not warns(forecast(t[:n], v[:n]), 24 * HOUR), n


def test_burst_then_flat_no_lasting_warning() -> None:
    t, v = corpus(3)["burst_then_flat"]
    raw = [warns(forecast(t[:n], v[:n]), 24 * HOUR) for n in range(300, len(t), 3)]
    assert not any(debounce(raw, 3))


def test_debounce() -> None:
    assert debounce([True, True, True, False, True, False, False, False], 3) == [False, False, True, True, True, True,
                                                                               True, False]


def test_corpus_backtest_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, SUBSET)
    rc, out, err = _run(capsys, str(tmp_path), "--json")
    assert rc == 0, err
    got = json.loads(out)
    for scores in (got, got["baseline"]):
        for key, typ in KEYS.items():
            assert isinstance(scores[key], typ), (key, scores[key])
        assert scores["series"] == len(SUBSET)
        assert scores["crossings"] == len(CROSSING & set(SUBSET))
        assert 0.0 <= scores["recall"] <= 1.0
        assert 0.0 <= scores["eta_within_30pct"] <= 1.0
        assert scores["lead_p10_h"] <= scores["lead_median_h"]
    assert got["recall"] == 1.0
    assert got["lead_median_h"] >= 6.0


def test_fewer_false_warnings_than_baseline_on_sawtooth_and_burst() -> None:
    c = corpus(4, days=5.0, step_s=600.0)
    params = Params()
    for name in ("sawtooth_stable", "sawtooth_daily", "burst_then_flat", "gc_stable"):
        t, v = c[name]
        r = evaluate_series(Series(name, t, v), 0.9, params)
        assert r.method.false_warnings < r.baseline.false_warnings, name
        assert r.method.false_warnings == 0, name


def test_table_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, ["linear_fill"], days=5.5)
    rc, out, _ = _run(capsys, str(tmp_path), "--threshold", "0.8")
    assert rc == 0
    assert "linear_fill" in out and "false_warnings_per_100_days" in out


def test_iso_timestamps_and_header_optional(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [f"2024-01-01T{h:02d}:00:00Z,{0.1 + 0.01 * h}\n" for h in range(24)]
    (tmp_path / "iso.csv").write_text("".join(lines))
    rc, out, err = _run(capsys, str(tmp_path), "--json")
    assert rc == 0, err
    assert json.loads(out)["series"] == 1


def test_bad_csv_names_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "disk.csv").write_text("timestamp,value\n1700000000,0.5\n1700000300,lots\n")
    rc, _, err = _run(capsys, str(tmp_path))
    assert rc == 2
    assert "disk.csv:3" in err and "bad value" in err


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("1700000000,0.5\n1700000300\n", "expected `timestamp,value`"),
        ("1700000000,0.5\nyesterday,0.6\n", "bad timestamp"),
        ("1700000000,0.5\n1700000000,0.6\n", "does not increase"),
        ("1700000000,0.5\n1700000300,1.5\n", "outside [0, 1]"),
    ],
)
def test_bad_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, message: str) -> None:
    (tmp_path / "x.csv").write_text(body)
    rc, _, err = _run(capsys, str(tmp_path))
    assert rc == 2
    assert "x.csv:2" in err and message in err


def test_empty_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(capsys, str(tmp_path))
    assert rc == 2
    assert "no *.csv" in err and str(tmp_path) in err
