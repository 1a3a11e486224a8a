"""`tocsin route test` (which policy and steps an alert gets) and `tocsin oncall who` (who is on call when)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

from webhook.config import load_config
from webhook.config.escalation import Target
from webhook.escalation.contacts import people
from webhook.escalation.routing import route
from webhook.escalation.service import defer, offset


def _when(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if at.tzinfo is None:
        raise SystemExit(f"--at {text!r}: give a time zone, e.g. 2026-11-28T03:00:00Z")
    return at


def cmd_route_test(args: argparse.Namespace) -> int:
    cfg = load_config(Path(args.config))
    labels = {}
    for item in args.labels:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"label {item!r}: use name=value")
        labels[name] = value
    at = _when(args.at)
    matches = route(cfg.escalation, labels, at)
    if not matches:
        print("no route matches: nobody is notified")
        return 1
    for m in matches:
        policy = cfg.escalation.policy(m.policy)
        print(f"policy {policy.name} (route {m.path})")
        for i, step in enumerate(policy.steps):
            due = defer(policy, at + offset(policy, i, 0))
            targets = ", ".join(t.describe() for t in step.targets)
            print(f"  step {i + 1} at +{_minutes(due - at)} ({due.isoformat()}): {targets}")
            if step.repeat:
                print(f"    repeated {step.repeat}x every {_minutes(step.repeat_every)} until acknowledged")
        if policy.repeat:
            print(f"  repeats {policy.repeat}x every {_minutes(policy.repeat_every)} until acknowledged")
        if policy.digest:
            print(f"  digest daily at {policy.digest.at} {policy.digest.timezone} to "
                  + ", ".join(t.describe() for t in policy.digest.targets))
    return 0


def _minutes(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def cmd_oncall_who(args: argparse.Namespace) -> int:
    cfg = load_config(Path(args.config))
    at = _when(args.at)
    schedules = [s.name for s in cfg.oncall.schedules]
    if args.schedule:
        if args.schedule not in schedules:
            raise SystemExit(f"no schedule {args.schedule!r} (known: {', '.join(schedules) or 'none'})")
        schedules = [args.schedule]
    print(f"on call at {at.isoformat()}:")
    for name in schedules:
        who = people(Target(schedule=name), cfg.oncall, at)
        print(f"  {name}: {', '.join(r.name for r in who) or 'nobody'}")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("route", help="routing tools")
    rsub = r.add_subparsers(dest="routecmd", required=True)
    t = rsub.add_parser("test", help="show the policy and steps an alert with these labels gets")
    t.add_argument("--config", required=True)
    t.add_argument("--at", help="ISO time with zone (default now): routes and policies may depend on it")
    t.add_argument("labels", nargs="+", metavar="label=value")
    t.set_defaults(fn=cmd_route_test)
    o = sub.add_parser("oncall", help="on-call tools")
    osub = o.add_subparsers(dest="oncallcmd", required=True)
    w = osub.add_parser("who", help="who is on call (now or --at)")
    w.add_argument("--config", required=True)
    w.add_argument("--at", help="ISO time with zone, e.g. 2026-11-28T03:00:00Z")
    w.add_argument("--schedule", help="only this schedule")
    w.set_defaults(fn=cmd_oncall_who)
