"""How long `tocsin replay` takes for a month of traffic, beside the time to just read that month's journal.

Usage: python bench/replay.py [--days 30] [--deliveries 100000] [--episodes 6000] [--seed 1] [--db sqlite|postgresql]

A synthetic month is recorded first with the engine's own code (ingest batches with escalation hooks, the step
timer and the outbox as the replay runs them, acks by people 2-20 minutes after half of the pages): alert
episodes of 40 rules and 4 teams, each re-sent every 5 minutes while it fires (Alertmanager's repeat and group
intervals: most deliveries are repeats, which the journal does not keep), some flapping. Then the same month is
replayed with the same configuration (the pages must all match) and with a changed policy, and timed.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from webhook.config import TocsinConfig
from webhook.incidents.actions import act
from webhook.incidents.model import TransitionError
from webhook.ingest.batch import ingest_batch
from webhook.ingest.prepare import PreparedPayload, prepared_alert
from webhook.replay import queries
from webhook.replay.compare import compare
from webhook.replay.engine import Replay, Replayed, recorded_pages
from webhook.store.db import Connection, Database
from webhook.store.migrate import upgrade

START = datetime(2026, 10, 1, tzinfo=UTC)


def config(url: str, var: Path, high_second_step: str = "15m") -> TocsinConfig:
    people = [{"name": f"p{i}", "phone": f"+491510000{i:04d}", "slack_user": f"U0P{i:03d}",
               "timezone": ["Europe/Berlin", "America/New_York", "Asia/Tokyo"][i % 3],
               "contact_rules": [{"channel": "slack"}, {"channel": "sms", "after": "2m"}]} for i in range(12)]
    schedules = [{"name": f"team{t}", "layers": [{"name": "weekly", "start": "2026-09-28", "rotation": "weekly",
                                                  "participants": [f"p{3 * t + k}" for k in range(3)]}]}
                 for t in range(4)]
    policies = [
        {"name": "critical", "steps": [{"targets": [{"slack": "#ops"}, {"schedule": "team0", "via": ["sms"]}]},
                                       {"after": "5m", "targets": [{"schedule": "team1", "via": ["voice"]}]}]},
        {"name": "high", "steps": [{"targets": [{"slack": "#ops"}, {"schedule": "team2"}]},
                                   {"after": high_second_step, "targets": [{"schedule": "team3", "via": ["sms"]}]}]},
        {"name": "low", "steps": [{"targets": [{"slack": "#tickets"}]}]},
    ]
    route = {"policy": "low", "routes": [{"matchers": ['severity="critical"'], "policy": "critical"},
                                         {"matchers": ['severity="high"'], "policy": "high"}]}
    return TocsinConfig(server={"var_dir": str(var)}, database={"url": url},
                        oncall={"responders": people, "schedules": schedules}, escalation={
                            "policies": policies, "route": route})


def traffic(rng: random.Random, days: int, episodes: int) -> Iterator[tuple[datetime, list[dict[str, Any]]]]:
    """(time, alerts) of every webhook delivery of the month, firing re-sent every 5 minutes, in time order."""
    events: list[tuple[datetime, int, dict[str, Any]]] = []
    span = days * 86400
    for e in range(episodes):
        rule = rng.randrange(40)
        labels = {"alertname": f"Rule{rule}", "severity": ["critical", "high", "high", "low"][rule % 4],
                  "team": f"team{rule % 4}", "instance": f"host{rng.randrange(30)}"}
        start = START + timedelta(seconds=rng.uniform(0, span - 3 * 3600))
        dur = timedelta(minutes=rng.choice([2, 4, 10, 30, 90, 240]))
        fp = f"{rule:03d}{labels['instance']}"
        t, n = start, 0
        while t < start + dur:  # repeats while firing
            events.append((t, e, {"status": "firing", "labels": labels, "starts": start, "fp": fp}))
            t += timedelta(minutes=5)
            n += 1
        events.append((start + dur, e, {"status": "resolved", "labels": labels, "starts": start, "fp": fp,
                                        "ends": start + dur}))
    events.sort(key=lambda x: (x[0], x[1]))
    for t, _, a in events:
        yield t, [a]


def record(db: Database, cfg: TocsinConfig, rng: random.Random, days: int, episodes: int) -> tuple[int, int]:
    """Write the month through the engine's code; returns (webhook deliveries, acks)."""
    driver = Replay(cfg)
    out = Replayed([], 0, 0, 0, 0)
    deliveries = acks = 0
    due_acks: list[tuple[datetime, int]] = []

    def run(conn: Connection) -> None:
        nonlocal deliveries, acks
        for at, alerts in traffic(rng, days, episodes):
            while due_acks and due_acks[0][0] <= at:
                when, iid = due_acks.pop(0)
                driver._until(conn, when, [], {}, out)
                with contextlib.suppress(TransitionError):
                    act(conn, iid, "ack", "p0", when, hooks=driver.hooks)
                    acks += 1
            driver._until(conn, at, [], {}, out)
            payload = PreparedPayload("tocsin", "bench", alerts[0]["status"], 0, [
                prepared_alert(a["fp"], a["starts"], a["status"], a["labels"], {"summary": "bench"},
                               a.get("ends"), "http://prometheus/graph", cfg) for a in alerts])
            result = ingest_batch(conn, [payload], at, cfg.incidents.flap, driver.hooks)
            deliveries += len(alerts)
            for iid, _sev in result.opened:
                if rng.random() < 0.5:
                    due_acks.append((at + timedelta(minutes=rng.uniform(2, 20)), iid))
                    due_acks.sort()
        driver._until(conn, START + timedelta(days=days, hours=1), [], {}, out)

    db.run_write(run)
    return deliveries, acks


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--episodes", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-replay-") as d, contextlib.ExitStack() as stack:
        if args.db == "postgresql":
            import pg
            url = stack.enter_context(pg.cluster(fsync=False))
        else:
            url = f"sqlite:///{d}/source.db"
        cfg = config(url, Path(d) / "var")
        db = Database.from_url(url, sqlite_synchronous="OFF") if args.db == "sqlite" else Database.from_url(url)
        upgrade(db.engine)
        t0 = time.perf_counter()
        deliveries, acks = record(db, cfg, random.Random(args.seed), args.days, args.episodes)
        t_record = time.perf_counter() - t0
        start, end = START, START + timedelta(days=args.days)
        rows = db.run_read(queries.journal_count, start, end)
        t0 = time.perf_counter()
        n = 0
        after = 0
        while True:  # the reference: only reading the month's journal as the replay does
            chunk = db.run_read(queries.journal_chunk, start, end, after)
            n += len(chunk)
            if len(chunk) < queries.CHUNK:
                break
            after = chunk[-1].id
        t_read = time.perf_counter() - t0
        recorded = recorded_pages(db, start, end)
        t0 = time.perf_counter()
        same = Replay(cfg, scratch_dir=Path(d)).run(db, start, end)
        t_same = time.perf_counter() - t0
        diff = compare(recorded, same.pages, {})
        t0 = time.perf_counter()
        changed = Replay(config(url, Path(d) / "var", "3m"), scratch_dir=Path(d)).run(db, start, end)
        t_changed = time.perf_counter() - t0
        moved = compare(recorded, changed.pages, {})
        db.close()
    print(f"machine: {sys.platform}, python {sys.version.split()[0]}, db {args.db}")
    print(f"month: {args.days} days, {deliveries:,} webhook alert deliveries ({args.episodes:,} episodes), "
          f"{rows:,} journal rows (the rest were repeats), {acks:,} acks, {len(recorded):,} messages sent "
          f"(recorded in {t_record:.1f} s)")
    print(f"reference: reading the month's journal: {t_read:.2f} s ({n:,} rows)")
    print(f"replay, same config:    {t_same:6.1f} s  {same.batches:,} batches, {len(same.pages):,} messages, "
          f"match {diff.match_ratio:.2%} (matched {diff.matched:,}, moved {diff.moved}, "
          f"only recorded {len(diff.only_recorded)}, only replayed {len(diff.only_replayed)})")
    print(f"replay, changed policy: {t_changed:6.1f} s  {len(changed.pages):,} messages, "
          f"{len(moved.only_replayed):,} new, {len(moved.only_recorded):,} gone, {moved.moved:,} moved")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
