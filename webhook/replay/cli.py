"""`tocsin replay`: the recorded traffic of a period through a candidate configuration (docs/replay.md)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from remediator.runbook import Runbook
from webhook.replay.engine import Replayed
from webhook.replay.render import FORMATS, Outcome, render

#: Exit code of a usage error (unknown config file, invalid period), as argparse's.
USAGE = 2
#: The migration that creates the alert journal.
JOURNAL_REVISION = "0006"


class Progress:
    """Alert deliveries replayed so far on stderr: a line redrawn in place on a terminal, else one line per tenth."""

    def __init__(self, out: IO[str], tty: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.out, self.tty, self.clock, self.t0 = out, tty, clock, clock()
        self._tenth = -1

    def __call__(self, done: int, total: int) -> None:
        share = done / total if total else 1.0
        took = self.clock() - self.t0
        if self.tty:
            bar = "#" * int(20 * share)
            self.out.write(f"\rreplay [{bar:<20}] {done:,}/{total:,} alert deliveries ({took:.0f}s)   ")
            if done >= total:
                self.out.write("\n")
        elif int(share * 10) > self._tenth:
            self._tenth = int(share * 10)
            self.out.write(f"replay: {done:,}/{total:,} alert deliveries ({share:.0%}, {took:.0f}s)\n")
        self.out.flush()


def _fail(message: str, code: int = USAGE) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def cmd_replay(args: argparse.Namespace, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> int:
    from remediator.loader import RunbookError, load_runbooks
    from webhook.config import load_config
    from webhook.replay import queries
    from webhook.replay.compare import compare
    from webhook.replay.engine import Replay, recorded_pages
    from webhook.report.build import PeriodError, parse_period, responder_zones
    from webhook.store.db import Database
    from webhook.store.migrate import current_revision

    path = Path(args.config)
    if not path.is_file():
        return _fail(f"candidate config {path} not found (give it with --config FILE)")
    try:
        period = parse_period(now(), args.since, args.start, args.end)
    except PeriodError as exc:
        return _fail(str(exc))
    logging.getLogger("alembic").setLevel(logging.WARNING)
    cfg = load_config(path)  # a ConfigError is reported by webhook.cli (exit 1, file:line: field: error)
    runbooks = []
    rb_dir = Path(args.runbooks) if args.runbooks else (cfg.remediation.runbooks_dir if cfg.remediation.enabled
                                                          else None)
    if rb_dir is not None:
        try:
            runbooks = load_runbooks(rb_dir)
        except (RunbookError, OSError) as exc:
            return _fail(f"runbooks in {rb_dir}: {exc}", 1)
    url = args.database or cfg.database_url()
    source = Database.from_url(url, **cfg.database.engine_options())
    try:
        if JOURNAL_REVISION not in current_revision(source.engine).split(","):
            return _fail(f"the database {url} has no alert journal yet (revision {JOURNAL_REVISION}): upgrade Tocsin"
                         " and run `tocsin db upgrade`; traffic is journaled from then on", 1)
        first, last, _ = source.run_read(queries.journal_bounds)
        if first is None or last is None or last < period.start or first >= period.end:
            print(f"nothing to replay: no alert deliveries journaled between {period}"
                  + (f" (the journal holds {first.isoformat()} to {last.isoformat()})" if first and last else ""),
                  file=sys.stderr)
            return 0
        if first > period.start:
            print(f"note: the journal starts at {first.isoformat()}: earlier traffic cannot be replayed",
                  file=sys.stderr)
        recorded = recorded_pages(source, period.start, period.end)
        replayed = Replay(cfg, progress=Progress(sys.stderr, sys.stderr.isatty())).run(source, period.start,
                                                                                      period.end)
    finally:
        source.close()
    zones = {name: ZoneInfo(z) for name, z in responder_zones(cfg).items()}
    diff = compare(recorded, replayed.pages, zones)
    plan = dry_plan(runbooks, replayed)
    data = render(Outcome(period.start, period.end, str(path), recorded, replayed, diff, plan), args.format)
    if args.output:
        Path(args.output).write_bytes(data)
        print(f"replay written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


def dry_plan(runbooks: list[Runbook], replayed: Replayed) -> dict[str, dict[str, int]]:
    """Per runbook: the replayed incidents it would run for (the first matching runbook runs, as in the service),
    and their pages due within its escalation hold: the pages a run whose fix verifies would have avoided."""
    pages: dict[tuple[str, datetime], list[datetime]] = {}
    for p in replayed.pages:
        if p.incident is not None and p.kind in ("trigger", "reminder", "storm_summary"):
            pages.setdefault(p.incident, []).append(p.due_at)
    out: dict[str, dict[str, int]] = {}
    for inc in replayed.opened:
        labels = {k: str(v) for k, v in inc.labels.items()}
        rb = next((r for r in runbooks if r.matches(labels)), None)
        if rb is None:
            continue
        hold_end = inc.opened_at + rb.safety.hold_escalation_for
        row = out.setdefault(rb.id, {"incidents": 0, "pages_avoided_if_verified": 0})
        row["incidents"] += 1
        row["pages_avoided_if_verified"] += sum(1 for t in pages.get((inc.key, inc.opened_at), []) if t < hold_end)
    return out


def add_commands(sub: Any) -> None:
    r = sub.add_parser("replay", help="what-if: recorded traffic through a candidate config (docs/replay.md)")
    r.add_argument("--config", required=True, help="the candidate config (YAML), e.g. a changed copy of tocsin.yaml")
    r.add_argument("--database", help="database holding the recorded traffic (default: the candidate's database.url)")
    r.add_argument("--runbooks", help="runbook directory for the dry plan (default: the candidate's, when enabled)")
    r.add_argument("--since", help="period back from now, e.g. 7d, 30d (default 30d)")
    r.add_argument("--from", dest="start", help="start: a date (UTC midnight) or an aware time, e.g. 2026-11-01")
    r.add_argument("--to", dest="end", help="end (exclusive), default now")
    r.add_argument("--format", choices=FORMATS, default="text")
    r.add_argument("-o", "--output", help="write to this file instead of stdout")
    r.set_defaults(fn=cmd_replay)
