"""`tocsin route test`: which policy and steps an alert with given labels gets, and when."""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path

from webhook.clock import parse_at
from webhook.config import load_config
from webhook.escalation.policy import defer, offset
from webhook.escalation.routing import route
from webhook.windows.cli import route_check


def cmd_route_test(args: argparse.Namespace) -> int:
    cfg = load_config(Path(args.config))
    labels = {}
    for item in args.labels:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"label {item!r}: use name=value")
        labels[name] = value
    at = parse_at(args.at)
    matches = route(cfg.escalation, labels, at)
    if not matches:
        print("no route matches: nobody is notified")
        return 1
    covered = route_check(cfg, labels, at)  # maintenance windows in the database (docs/windows.md)
    if covered:
        print(covered)
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


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("route", help="routing tools")
    rsub = r.add_subparsers(dest="routecmd", required=True)
    t = rsub.add_parser("test", help="show the policy and steps an alert with these labels gets")
    t.add_argument("--config", required=True)
    t.add_argument("--at", help="ISO time with zone (default now): routes and policies may depend on it")
    t.add_argument("labels", nargs="+", metavar="label=value")
    t.set_defaults(fn=cmd_route_test)
