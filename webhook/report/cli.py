"""`tocsin report`: the alert-quality report of a period (docs/report.md), as HTML, JSON or Markdown."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from webhook.report.build import PeriodError, build_report, parse_period
from webhook.report.compute import Settings
from webhook.report.queries import STEPS
from webhook.report.render import FORMATS, empty_note, render

#: Exit code of a usage error: unknown config file, invalid period, unknown zone (argparse uses 2 as well).
USAGE = 2


class ProgressBar:
    """Progress on stderr: a bar redrawn in place on a terminal, else one line per finished step (logs stay
    readable); nothing is printed for steps that take no time on a terminal except the final line."""

    def __init__(self, out: IO[str], tty: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.out, self.tty, self.clock, self.t0 = out, tty, clock, clock()
        self.done = 0

    def __call__(self, step: str, rows: int) -> None:
        self.done += 1
        n = len(STEPS)
        took = self.clock() - self.t0
        if self.tty:
            bar = "#" * (20 * self.done // n)
            self.out.write(f"\rreport [{bar:<20}] {self.done}/{n} {step}: {rows:,} rows ({took:.1f}s)   ")
            if self.done == n:
                self.out.write("\n")
        else:
            self.out.write(f"report: step {self.done}/{n} {step}: {rows:,} rows read ({took:.1f}s)\n")
        self.out.flush()


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return USAGE


def cmd_report(args: argparse.Namespace, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> int:
    from webhook.config import load_config
    from webhook.store.db import make_engine
    from webhook.store.migrate import current_revision

    path = Path(args.config)
    if not path.is_file():
        return _fail(f"config file {path} not found (give it with --config FILE)")
    try:
        period = parse_period(now(), args.since, args.start, args.end)
    except PeriodError as exc:
        return _fail(str(exc))
    try:
        ZoneInfo(args.zone)
    except (ZoneInfoNotFoundError, ValueError):
        return _fail(f"--zone {args.zone!r} is not an IANA time zone such as Europe/Berlin")
    if args.transient_minutes <= 0:
        return _fail("--transient-minutes must be positive")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the revision check's chatter is not the report
    cfg = load_config(path)  # a ConfigError is reported by webhook.cli (exit 1, file:line: field: error)
    engine = make_engine(cfg.database_url(), **cfg.database.engine_options())
    try:
        if "0005_feedback" not in current_revision(engine).split(","):
            print(f"error: the database {cfg.database_url()} is not migrated for the report (revision 0005_feedback"
                  f" missing): run `tocsin db upgrade --config {path}`", file=sys.stderr)
            return 1
        settings = Settings(transient=timedelta(minutes=args.transient_minutes), chart_zone=args.zone)
        progress = ProgressBar(sys.stderr, sys.stderr.isatty())
        with engine.connect() as conn:
            report = build_report(conn, cfg, period, args.team, settings, progress)
    finally:
        engine.dispose()
    note = empty_note(report)
    if note:
        print(note, file=sys.stderr)
    data = render(report, args.format)
    if args.output:
        Path(args.output).write_bytes(data)
        print(f"report written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


def add_commands(sub: Any) -> None:
    r = sub.add_parser("report", help="alert-quality report: noisy rules, MTTA/MTTR, night pages (docs/report.md)")
    r.add_argument("--config", default="tocsin.yaml", help="YAML config file (default tocsin.yaml)")
    r.add_argument("--since", help="period back from now, e.g. 7d, 30d (default 30d)")
    r.add_argument("--from", dest="start", help="start: a date (UTC midnight) or an aware time, e.g. 2026-11-01")
    r.add_argument("--to", dest="end", help="end (exclusive), default now")
    r.add_argument("--team", help="only incidents of this team")
    r.add_argument("--format", choices=FORMATS, default="html")
    r.add_argument("-o", "--output", help="write to this file instead of stdout")
    r.add_argument("--zone", default="UTC", help="time zone of the charts' days and hours (default UTC)")
    r.add_argument("--transient-minutes", type=float, default=5.0,
                   help="resolved by itself within this many minutes counts as transient (default 5)")
    r.set_defaults(fn=cmd_report)
