"""Benchmark: the alert-quality report over 90 days with 100,000 alerts, on SQLite and on PostgreSQL.

Usage: python bench/report.py [--db sqlite|postgresql] [--alerts 100000] [--days 90] [--seed 13]

Bulk-inserts a seeded history (one alert episode per incident, so 100,000 incidents: the report's worst case;
timeline lines, pages on every channel, escalation steps, remediation runs and feedback in the shapes the code
writes them) into a fresh database (SQLite file, or a throw-away PostgreSQL cluster from bench/pg.py), then
times the report (the seven streamed queries and the figures, then JSON and HTML rendering) and, as the
reference, a bare `SELECT count(*)` over the same tables. Not part of the test suite (tests never depend on
timing); results go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import pg

from webhook.config import TocsinConfig
from webhook.escalation.tables import escalation_runs, escalation_steps
from webhook.incidents.tables import alerts, incident_events, incident_feedback, incidents
from webhook.notifiers.tables import deliveries
from webhook.remediation.tables import remediation_runs
from webhook.report.build import Period, build_report
from webhook.report.compute import Settings
from webhook.report.render import render
from webhook.store.db import make_engine
from webhook.store.migrate import upgrade

END = datetime(2026, 11, 30, tzinfo=UTC)
PEOPLE = ["alice", "bob", "carol", "dave", "erin", "frank"]
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "UTC", "America/Los_Angeles"]
RULES = [f"Rule{i:02d}" for i in range(40)]
CHANNELS = ["slack", "sms", "voice", "email", "pagerduty"]
NOTES = ["via slack", "via sms", "via voice", "via email", "via pagerduty", "", "restarted it"]


def config(url: str) -> TocsinConfig:
    return TocsinConfig(database={"url": url}, oncall={"responders": [
        {"name": n, "slack_user": f"U0{n.upper()}", "timezone": z} for n, z in zip(PEOPLE, ZONES, strict=True)]})


def rows(count: int, days: int, seed: int) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(seed)
    start = END - timedelta(days=days)
    span = int((END - start).total_seconds())
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in ("incidents", "alerts", "events", "deliveries", "runs",
                                                              "steps", "remediation", "feedback")}
    for i in range(1, count + 1):
        opened = start + timedelta(seconds=rng.randrange(span))
        rule = rng.choice(RULES)
        sev = rng.choice(["critical", "high", "warning", "low"])
        labels = {"alertname": rule, "severity": sev, "service": f"svc{rng.randrange(12)}"}
        who = rng.choice(PEOPLE)
        acked = opened + timedelta(seconds=rng.randrange(30, 3600)) if rng.random() < 0.6 else None
        resolved = opened + timedelta(seconds=rng.randrange(60, 20000))
        human_resolve = acked is not None and rng.random() < 0.4
        if acked is not None and resolved <= acked:
            resolved = acked + timedelta(seconds=60)
        out["incidents"].append({
            "id": i, "incident_key": f"k{i}", "key_labels": {"alertname": rule}, "state": "resolved", "severity": sev,
            "title": rule, "labels": labels, "annotations": {}, "firing_alerts": 0, "alert_count": 1,
            "flapping": rng.random() < 0.05, "changes": [], "resolve_after": None, "snoozed_until": None,
            "opened_at": opened, "updated_at": resolved, "acked_at": acked, "acked_by": who if acked else None,
            "resolved_at": resolved, "resolved_by": who if human_resolve else "alertmanager", "truncated_alerts": 0})
        out["alerts"].append({
            "fingerprint": f"{i:016x}", "starts_at": opened, "status": "resolved", "labels": labels,
            "annotations": {}, "ends_at": resolved, "generator_url": "", "incident_id": i, "first_seen": opened,
            "last_seen": resolved, "receive_count": 2})
        out["events"].append({"incident_id": i, "at": opened, "kind": "opened", "actor": "alertmanager", "detail": {}})
        if acked is not None:
            out["events"].append({"incident_id": i, "at": acked, "kind": "acknowledged", "actor": who,
                                  "detail": {"from": "triggered", "to": "acknowledged", "note": rng.choice(NOTES)}})
        out["events"].append({"incident_id": i, "at": resolved, "kind": "resolved",
                              "actor": who if human_resolve else "alertmanager",
                              "detail": {"note": rng.choice(NOTES)} if human_resolve else {}})
        run_id = i  # one escalation run per incident
        out["runs"].append({"id": run_id, "incident_id": i, "policy": sev, "route": "root", "snapshot": {},
                            "severity": sev, "team": f"team{rng.randrange(5)}", "state": "done", "opened_at": opened,
                            "updated_at": resolved})
        for k in range(rng.choice([1, 1, 2, 3])):
            out["steps"].append({"run_id": run_id, "incident_id": i, "seq": k, "step_index": k, "cycle": 0, "rep": 0,
                                 "due_at": opened + timedelta(minutes=5 * k), "state": "fired",
                                 "fired_at": opened + timedelta(minutes=5 * k)})
            channel = rng.choice(CHANNELS)
            at = opened + timedelta(minutes=5 * k, seconds=rng.randrange(1, 20))
            out["deliveries"].append({
                "idem_key": f"{i}:{k}", "incident_id": i, "kind": "trigger", "channel": channel,
                "address": "x", "responder": None if channel == "pagerduty" else rng.choice(PEOPLE), "locale": "en",
                "fallback": [], "severity": sev, "status": "delivered", "attempts": 1, "due_at": at,
                "next_attempt_at": at, "created_at": at, "finished_at": at})
        if rng.random() < 0.05:
            out["remediation"].append({
                "idempotency_key": f"r{i}", "runbook_id": "rb", "incident_id": str(i), "triggered_by": "tocsin",
                "labels": labels, "annotations": {}, "dry_run": False, "status": "finished",
                "outcome": rng.choice(["verified", "failed"]), "reason": "", "target": {}, "next_step": 0,
                "created_at": opened, "updated_at": opened})
        if rng.random() < 0.03:
            out["feedback"].append({"incident_id": i, "person": who, "actionable": rng.random() < 0.5,
                                    "channel": "slack", "at": resolved})
    return out


def load(url: str, count: int, days: int, seed: int) -> float:
    engine = make_engine(url)
    upgrade(engine)
    data = rows(count, days, seed)
    t0 = time.perf_counter()
    tables = [("incidents", incidents), ("alerts", alerts), ("events", incident_events),
              ("runs", escalation_runs), ("steps", escalation_steps), ("deliveries", deliveries),
              ("remediation", remediation_runs), ("feedback", incident_feedback)]
    with engine.begin() as conn:
        for key, table in tables:
            batch = data[key]
            for i in range(0, len(batch), 10_000):
                conn.execute(insert(table), batch[i:i + 10_000])
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE")
        else:  # one bulk transaction left the whole database in the WAL; a live server checkpoints as it goes
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return time.perf_counter() - t0


def measure(url: str, days: int) -> dict[str, float]:
    engine = make_engine(url)
    cfg = config(url)
    period = Period(END - timedelta(days=days), END)
    out: dict[str, float] = {}
    with engine.connect() as conn:
        t0 = time.perf_counter()
        for table in (incidents, incident_events, deliveries, escalation_steps):
            conn.execute(select(func.count()).select_from(table)).scalar_one()
        out["bare count(*) of the 4 big tables"] = time.perf_counter() - t0
    steps: list[str] = []

    def progress(step: str, rows: int) -> None:  # wall time of each streamed query, to see where time goes
        steps.append(f"{step} {rows:,} rows {time.perf_counter() - t0:.2f}s")

    with engine.connect() as conn:
        t0, c0 = time.perf_counter(), time.process_time()
        report = build_report(conn, cfg, period, None, Settings(chart_zone="Europe/Berlin"), progress)
        out["report figures (queries + compute)"] = time.perf_counter() - t0
        # this process's CPU time: on a machine shared with other work the wall time above is inflated
        out["  of which CPU time of this process"] = time.process_time() - c0
    t0 = time.perf_counter()
    render(report, "json")
    out["render json"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    render(report, "html")
    out["render html (3 SVG charts)"] = time.perf_counter() - t0
    print("  steps (cumulative):", "; ".join(steps))
    out["incidents"] = report["totals"]["incidents"]
    out["pages"] = report["totals"]["pages"]
    engine.dispose()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--alerts", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--reuse", metavar="URL", help="time the report on a database this bench loaded before")
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        if args.reuse:
            url = args.reuse
        elif args.db == "sqlite":
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tocsin-bench-report-")))
            url = f"sqlite:///{work / 'tocsin.db'}"
        else:
            url = stack.enter_context(pg.cluster(fsync=False))
        if args.reuse:
            print(f"{args.db}: reusing {url}")
        else:
            loaded = load(url, args.alerts, args.days, args.seed)
            print(f"{args.db}: {args.alerts:,} alerts over {args.days} days loaded in {loaded:.1f}s"
                  f" ({platform.python_implementation()} {platform.python_version()})")
        measure(url, args.days)  # warm-up: caches as a report run on a live server would find them
        result = measure(url, args.days)
    print(f"  load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores)")
    for key, value in result.items():
        print(f"  {key:40s} {value:10.3f}" if isinstance(value, float) and key not in ("incidents", "pages")
              else f"  {key:40s} {int(value):10d}")
    report = result["report figures (queries + compute)"] + result["render json"]
    print(f"  {'report as JSON (target < 5 s)':40s} {report:10.3f}")
    print(f"  {'report as HTML':40s} {report + result['render html (3 SVG charts)']:10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
