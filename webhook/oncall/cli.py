"""`tocsin oncall who`: who is on call now, or at a given time, for each schedule or one."""

from __future__ import annotations

import argparse
from pathlib import Path

from webhook.clock import parse_at
from webhook.config import load_config
from webhook.oncall.schedule import who_is_on_call


def cmd_oncall_who(args: argparse.Namespace) -> int:
    cfg = load_config(Path(args.config))
    at = parse_at(args.at)
    schedules = [s.name for s in cfg.oncall.schedules]
    if args.schedule:
        if args.schedule not in schedules:
            raise SystemExit(f"no schedule {args.schedule!r} (known: {', '.join(schedules) or 'none'})")
        schedules = [args.schedule]
    print(f"on call at {at.isoformat()}:")
    for name in schedules:
        who = who_is_on_call(cfg.oncall.schedule(name), at, cfg.oncall.responder_map())
        print(f"  {name}: {', '.join(r.name for r in who) or 'nobody'}")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    o = sub.add_parser("oncall", help="on-call tools")
    osub = o.add_subparsers(dest="oncallcmd", required=True)
    w = osub.add_parser("who", help="who is on call (now or --at)")
    w.add_argument("--config", required=True)
    w.add_argument("--at", help="ISO time with zone, e.g. 2026-11-28T03:00:00Z")
    w.add_argument("--schedule", help="only this schedule")
    w.set_defaults(fn=cmd_oncall_who)
