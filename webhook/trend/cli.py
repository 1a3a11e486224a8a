"""`tocsin trend ...`: the backtests anyone can rerun (docs/prevention.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _exhaustion(args: argparse.Namespace) -> int:
    from webhook.trend.exhaustion_backtest import run

    return run(args.dir, threshold=args.threshold, as_json=args.json)


def _anomaly(args: argparse.Namespace) -> int:
    from webhook.trend.anomaly_backtest import run

    return run(args.dir, args.labels, as_json=args.json, detections=args.detections)


def add_commands(sub: Any) -> None:
    t = sub.add_parser("trend", help="prevention: backtests of the forecasts and baselines")
    tsub = t.add_subparsers(dest="trendcmd", required=True)
    b = tsub.add_parser("backtest", help="score a method on recorded series")
    bsub = b.add_subparsers(dest="backtest", required=True)
    e = bsub.add_parser("exhaustion", help="exhaustion forecasts on CSV fill traces (timestamp,value as 0..1)")
    e.add_argument("dir", type=Path, help="directory of CSV files `timestamp,value`")
    e.add_argument("--threshold", type=float, default=0.9, help="the crossing to forecast (default 0.9)")
    e.add_argument("--json", action="store_true", help="print the scores as JSON")
    e.set_defaults(fn=_exhaustion)
    a = bsub.add_parser("anomaly", help="anomaly detection on a NAB-layout corpus, scored the NAB way")
    a.add_argument("dir", type=Path, help="the corpus's data directory (NAB layout: <group>/<series>.csv)")
    a.add_argument("--labels", type=Path, required=True, help="NAB's combined windows file (JSON)")
    a.add_argument("--json", action="store_true", help="print the scores as JSON")
    a.add_argument("--detections", type=Path, help="write OUT/<group>/<method>_<series>.csv like NAB's results")
    a.set_defaults(fn=_anomaly)
