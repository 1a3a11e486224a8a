"""`tocsin window add/list/end`: maintenance windows straight in the database named by the config (like
`tocsin db`), and the window check of `tocsin route test`."""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from webhook.clock import utcnow
from webhook.config import TocsinConfig, load_config
from webhook.incidents.actions import ActionHook
from webhook.store.db import Connection, Database, StorageUnavailable, make_engine
from webhook.windows import ops, repo
from webhook.windows.model import Window, hold
from webhook.windows.spec import SpecError, build

#: The config -> the hooks that release held escalation steps when a window ends (given by webhook.cli, which
#: may import the escalation; this package may not).
ReleaseHooks = Callable[[TocsinConfig], ActionHook]


def _db(cfg: TocsinConfig) -> Database:
    return Database(make_engine(cfg.database_url(), **cfg.database.engine_options()), readers=1)


def _storage_error(exc: Exception) -> SystemExit:
    return SystemExit(f"error: cannot use the database: {exc} (is it migrated? run `tocsin db upgrade --config`)")


def _time(text: str | None, flag: str) -> datetime | None:
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SystemExit(f"error: {flag} {text!r}: not an ISO time like 2026-12-06T02:00:00Z") from exc
    if at.tzinfo is None:
        raise SystemExit(f"error: {flag} {text!r}: give a time zone, e.g. 2026-12-06T02:00:00Z")
    return at


def cmd_add(args: argparse.Namespace) -> int:
    cfg = load_config(Path(args.config))
    now = utcnow()
    recurrence = None
    if args.every or args.between:
        if not (args.every and args.between):
            raise SystemExit("error: a recurring window needs --every DAYS and --between HH:MM-HH:MM")
        start, sep, end = args.between.partition("-")
        if not sep:
            raise SystemExit(f"error: --between {args.between!r}: use HH:MM-HH:MM, e.g. 02:00-04:00")
        recurrence = {"days": args.every, "from": start.strip(), "to": end.strip(), "timezone": args.tz}
        if args.duration:
            raise SystemExit("error: --for and --every exclude each other")
    try:
        spec = build(args.match or [], now, starts_at=_time(args.start, "--from"), ends_at=_time(args.end, "--to"),
                     duration=args.duration, recurrence=recurrence, comment=args.comment)
    except SpecError as exc:
        raise SystemExit(f"error: {exc}") from exc
    db = _db(cfg)
    try:
        w = db.run_write(ops.create, spec, args.by, now)
    except StorageUnavailable as exc:
        raise _storage_error(exc) from exc
    finally:
        db.close()
    print(f"window {w.describe()} created by {w.created_by}: {w.schedule()}; matchers "
          + " ".join(str(m) for m in w.matchers) + (" (active now)" if w.active(now) else ""))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    cfg = load_config(Path(args.config))
    now = utcnow()
    try:
        items = _read(cfg, lambda conn: repo.listing(conn, now, everything=args.all))
    except StorageUnavailable as exc:
        raise _storage_error(exc) from exc
    if not items:
        print("no windows" if args.all else "no current or upcoming windows (--all lists past ones too)")
    for w in items:
        print(_line(w, now))
    return 0


def _line(w: Window, now: datetime) -> str:
    state = "active" if w.active(now) else "over" if w.over(now) else "upcoming"
    ended = f", ended by {w.ended_by} at {w.ended_at.isoformat()}" if w.ended_at else ""
    return (f"#{w.id} [{state}] {w.schedule()} " + " ".join(str(m) for m in w.matchers)
            + f" by {w.created_by}{ended}" + (f": {w.comment}" if w.comment else ""))


def cmd_end(args: argparse.Namespace, release: ReleaseHooks | None) -> int:
    cfg = load_config(Path(args.config))
    now = utcnow()
    db = _db(cfg)
    try:
        w, released = db.run_write(ops.end, args.id, args.by, now, release(cfg) if release else None)
    except repo.WindowNotFound as exc:
        raise SystemExit(f"error: no window #{args.id}") from exc
    except repo.WindowOver as exc:
        raise SystemExit(f"error: {exc}") from exc
    except StorageUnavailable as exc:
        raise _storage_error(exc) from exc
    finally:
        db.close()
    print(f"window {w.describe()} ended by {w.ended_by}; held escalation released for "
          f"{len(released)} triggered incident(s)")
    return 0


def route_check(cfg: TocsinConfig, labels: Mapping[str, str], at: datetime) -> str | None:
    """`tocsin route test`'s line about windows: suppressed by which window until when, or why not checked."""
    url = cfg.database_url()
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return f"maintenance windows not checked: no database at {url.removeprefix('sqlite:///')}"
    try:
        windows = _read(cfg, lambda conn: repo.current(conn, at))
    except StorageUnavailable as exc:
        return f"maintenance windows not checked: {exc}"
    found = hold(windows, labels, at)
    if found is None:
        return None
    return f"suppressed by maintenance window {found.window.describe()} until {found.until.isoformat()}"


def _read(cfg: TocsinConfig, fn: Callable[[Connection], list[Window]]) -> list[Window]:
    """A short transaction of its own (the CLI has no event loop for Database.read)."""
    db = _db(cfg)
    try:
        return db.run_write(fn)
    finally:
        db.close()


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], release: ReleaseHooks | None) -> None:
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no USER variable and no passwd entry (a container's arbitrary uid)
        user = "unknown"
    w = sub.add_parser("window", help="maintenance windows: add, list, end (docs/windows.md)")
    wsub = w.add_subparsers(dest="windowcmd", required=True)
    a = wsub.add_parser("add", help="create a window: matchers and --for, --from/--to or --every/--between")
    a.add_argument("--config", required=True)
    a.add_argument("--match", action="append", metavar='NAME="VALUE"',
                   help="Alertmanager matcher (=, !=, =~, !~), repeatable; all must match")
    a.add_argument("--for", dest="duration", help="one-off from now (or --from) for this long, e.g. 2h")
    a.add_argument("--from", dest="start", help="ISO start with zone (one-off; a lower bound when recurring)")
    a.add_argument("--to", dest="end", help="ISO end with zone (one-off; an upper bound when recurring)")
    a.add_argument("--every", help="recurring on these days, e.g. sun or sat,sun")
    a.add_argument("--between", help="recurring slot HH:MM-HH:MM local time (end before start spans midnight)")
    a.add_argument("--tz", default="UTC", help="time zone of --between (default UTC), e.g. Europe/Berlin")
    a.add_argument("--comment", default="", help="why (shown on the incidents' timelines)")
    a.add_argument("--by", default=f"cli:{user}", help=f"creator (default cli:{user})")
    a.set_defaults(fn=cmd_add)
    ls = wsub.add_parser("list", help="current and upcoming windows")
    ls.add_argument("--config", required=True)
    ls.add_argument("--all", action="store_true", help="past windows too")
    ls.set_defaults(fn=cmd_list)
    e = wsub.add_parser("end", help="end a window now: held pages of incidents still firing go out")
    e.add_argument("--config", required=True)
    e.add_argument("id", type=int)
    e.add_argument("--by", default=f"cli:{user}", help=f"who ends it (default cli:{user})")
    e.set_defaults(fn=lambda args: cmd_end(args, release))
