"""`tocsin oncall who`: who is on call now, or at a given time, for each schedule or one (with the overrides and
swaps stored at run time when the database is there); `tocsin oncall override add/list/rm` straight in the
database named by the config (like `tocsin window`)."""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from webhook.clock import parse_at, utcnow
from webhook.config import TocsinConfig, load_config
from webhook.config.oncall import OnCallConfig
from webhook.oncall import changes
from webhook.oncall.schedule import who_is_on_call
from webhook.store.db import Connection, Database, StorageUnavailable, make_engine

T = TypeVar("T")


def _run(cfg: TocsinConfig, fn: Callable[[Connection], T]) -> T:
    """A short transaction of its own (the CLI has no event loop for Database.read)."""
    db = Database(make_engine(cfg.database_url(), **cfg.database.engine_options()), readers=1)
    try:
        return db.run_write(fn)
    finally:
        db.close()


def _storage_error(exc: Exception) -> SystemExit:
    return SystemExit(f"error: cannot use the database: {exc} (is it migrated? run `tocsin db upgrade --config`)")


def _with_changes(cfg: TocsinConfig, at: datetime) -> tuple[OnCallConfig, str | None]:
    url = cfg.database_url()
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return cfg.oncall, f"overrides and swaps made at run time not checked: no database at {url[10:]}"
    try:
        return _run(cfg, lambda conn: changes.effective(conn, cfg.oncall, at)), None
    except StorageUnavailable as exc:
        return cfg.oncall, f"overrides and swaps made at run time not checked: {exc}"


def cmd_oncall_who(args: argparse.Namespace) -> int:
    cfg = load_config(Path(args.config))
    at = parse_at(args.at)
    schedules = [s.name for s in cfg.oncall.schedules]
    if args.schedule:
        if args.schedule not in schedules:
            raise SystemExit(f"no schedule {args.schedule!r} (known: {', '.join(schedules) or 'none'})")
        schedules = [args.schedule]
    oncall, note = _with_changes(cfg, at)
    print(f"on call at {at.isoformat()}:")
    for name in schedules:
        who = who_is_on_call(oncall.schedule(name), at, oncall.responder_map())
        print(f"  {name}: {', '.join(r.name for r in who) or 'nobody'}")
    if note:
        print(note)
    return 0


def _time(text: str, flag: str) -> datetime:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SystemExit(f"error: {flag} {text!r}: not an ISO time like 2026-12-06T02:00:00Z") from exc
    if at.tzinfo is None:
        raise SystemExit(f"error: {flag} {text!r}: give a time zone, e.g. 2026-12-06T02:00:00Z")
    return at


def _change(cfg: TocsinConfig, fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return _run(cfg, lambda conn: fn(conn, *args))
    except (changes.ChangeError, changes.ChangeNotFound, changes.ChangeConflict) as exc:
        raise SystemExit(f"error: {exc}") from exc
    except StorageUnavailable as exc:
        raise _storage_error(exc) from exc


def cmd_override_add(args: argparse.Namespace) -> int:
    """The operator at the shell manages schedules (like `tocsin window add`): any responder may be put on call."""
    cfg = load_config(Path(args.config))
    start = _time(args.start, "--from") if args.start else utcnow()
    made = _change(cfg, changes.add_override, cfg.oncall, args.schedule, args.user, start, _time(args.end, "--to"),
                   args.comment, changes.Actor(args.by, manages=True), utcnow())
    print(f"override #{made['id']} on {args.schedule}: {made['user']} from {made['start']} to {made['end']} "
          f"(by {made['created_by']})")
    return 0


def cmd_override_list(args: argparse.Namespace) -> int:
    cfg = load_config(Path(args.config))
    now = utcnow()
    _, items = _change(cfg, changes.for_view, cfg.oncall, now, args.schedule)
    overrides = [c for c in items if c["kind"] == "override"]
    if not overrides:
        print("no current or upcoming overrides")
    for c in overrides:
        print(f"#{c['id']} {c['schedule']}: {c['user']} {c['start']} - {c['end']} by {c['created_by']}"
              + (f": {c['comment']}" if c["comment"] else ""))
    return 0


def cmd_override_rm(args: argparse.Namespace) -> int:
    cfg = load_config(Path(args.config))
    _change(cfg, changes.delete_override, args.schedule, args.id, changes.Actor(args.by, manages=True), utcnow())
    print(f"override #{args.id} on {args.schedule} deleted")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no USER variable and no passwd entry (a container's arbitrary uid)
        user = "unknown"
    o = sub.add_parser("oncall", help="on-call tools")
    osub = o.add_subparsers(dest="oncallcmd", required=True)
    w = osub.add_parser("who", help="who is on call (now or --at)")
    w.add_argument("--config", required=True)
    w.add_argument("--at", help="ISO time with zone, e.g. 2026-11-28T03:00:00Z")
    w.add_argument("--schedule", help="only this schedule")
    w.set_defaults(fn=cmd_oncall_who)
    ov = osub.add_parser("override", help="overrides stored in the database: add, list, rm (docs/schedules.md)")
    ovsub = ov.add_subparsers(dest="overridecmd", required=True)
    a = ovsub.add_parser("add", help="put a responder on call for a while (at most 31 days)")
    a.add_argument("--config", required=True)
    a.add_argument("--schedule", required=True)
    a.add_argument("--user", required=True, help="the responder (oncall.responders[].name)")
    a.add_argument("--from", dest="start", help="ISO start with zone (default now)")
    a.add_argument("--to", dest="end", required=True, help="ISO end with zone")
    a.add_argument("--comment", default="")
    a.add_argument("--by", default=f"cli:{user}", help=f"creator (default cli:{user})")
    a.set_defaults(fn=cmd_override_add)
    ls = ovsub.add_parser("list", help="current and upcoming overrides stored in the database")
    ls.add_argument("--config", required=True)
    ls.add_argument("--schedule", help="only this schedule")
    ls.set_defaults(fn=cmd_override_list)
    rm = ovsub.add_parser("rm", help="delete an override")
    rm.add_argument("--config", required=True)
    rm.add_argument("--schedule", required=True)
    rm.add_argument("id", type=int)
    rm.add_argument("--by", default=f"cli:{user}", help=f"who deletes it (default cli:{user})")
    rm.set_defaults(fn=cmd_override_rm)
