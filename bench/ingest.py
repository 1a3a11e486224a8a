"""Benchmark: durable ingest of 10-alert webhook payloads vs a bare FastAPI endpoint (the stack's ceiling).

Usage: python bench/ingest.py [--db sqlite|postgresql] [--payloads N] [--concurrency C] [--sync FULL|NORMAL]
       [--mode new|repeat] [--rounds R] [--ingest process|inprocess] [--pg-fsync on|off]
Starts `tocsin serve` (SQLite, or PostgreSQL: a throw-away cluster started here, fsync on unless told) and the
bare app as separate uvicorn processes on free loopback ports, drives each with the same pre-built requests,
and prints payloads/s, alerts/s, p50/p99 latency and the ratio, and checks every acknowledged alert was stored
exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import sqlalchemy
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pg
from loadgen import Result, build_request, run

TOKEN = "bench-webhook-token-0123456789"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def payload(i: int, mode: str) -> bytes:
    start = datetime(2026, 11, 28, tzinfo=UTC) + timedelta(seconds=0 if mode == "repeat" else i)
    group = i % 50 if mode == "repeat" else i
    alerts = []
    for j in range(10):
        labels = {"alertname": f"Bench{group}", "severity": "high", "namespace": "shop", "pod": f"api-{j}",
                  "service": "api", "instance": f"10.0.0.{j}:9100", "job": "api"}
        alerts.append({"status": "firing", "labels": labels,
                       "annotations": {"summary": "error ratio above 5%", "description": "x" * 200,
                                       "runbook_url": "https://example.org/runbooks/api.md"},
                       "startsAt": start.isoformat().replace("+00:00", "Z"), "endsAt": "0001-01-01T00:00:00Z",
                       "generatorURL": "http://prometheus:9090/graph?g0.expr=up", "fingerprint": f"{group:08x}{j:08x}"})
    return orjson.dumps({"version": "4", "groupKey": f'{{}}:{{alertname="Bench{group}"}}', "truncatedAlerts": 0,
                         "status": "firing", "receiver": "tocsin", "groupLabels": {"alertname": f"Bench{group}"},
                         "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am:9093",
                         "alerts": alerts})


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} not ready")


INGEST = "process"
PG_FSYNC = True


def start_tocsin(tmp: Path, sync: str, url: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    cfg = {"server": {"host": "127.0.0.1", "port": port, "var_dir": str(tmp / "var")},
           "database": {"url": url, "sqlite_synchronous": sync},
           "ingest": {"process": INGEST == "process"},
           "auth": {"webhook": {"bearer_tokens": [TOKEN]},
                    "api_tokens": [{"name": "b", "token": "bench-api-0123456789"}]}}
    (tmp / "tocsin.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "TOCSIN_SERVER__LOG_LEVEL": "warning"}
    proc = subprocess.Popen([str(BIN / "tocsin"), "serve", "--config", str(tmp / "tocsin.yaml")], env=env)
    wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
    return proc, port


def start_bare() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen([str(BIN / "uvicorn"), "--app-dir", str(Path(__file__).parent), "bare_app:app",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"])
    wait_ready(f"http://127.0.0.1:{port}/docs", proc)
    return proc, port


def drive(port: int, bodies: list[bytes], concurrency: int) -> tuple[Result, dict[int, int]]:
    """The measured run and the statuses of every request (warm-up included)."""
    reqs = [build_request("127.0.0.1", port, "/webhook/alertmanager", b, TOKEN) for b in bodies]
    warm = max(len(reqs) // 10, 50)
    w = asyncio.run(run("127.0.0.1", port, reqs[:warm], concurrency))  # warm-up (not counted)
    r = asyncio.run(run("127.0.0.1", port, reqs[warm:], concurrency))
    return r, {k: w.statuses.get(k, 0) + r.statuses.get(k, 0) for k in {*w.statuses, *r.statuses}}


def report(name: str, r: Result, alerts_per: int) -> float:
    n = len(r.latencies)
    rate = n / r.elapsed
    print(f"{name:9s} payloads/s {rate:8.0f}  alerts/s {rate * alerts_per:8.0f}  "
          f"p50 {r.pct(0.5) * 1000:6.1f} ms  p99 {r.pct(0.99) * 1000:6.1f} ms  statuses {r.statuses}")
    return rate


def counts(url: str) -> tuple[int, int, int]:
    """Alert rows, distinct alert episodes and incidents in the database."""
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as conn:
        q = conn.exec_driver_sql
        stored = q("select count(*) from alerts").scalar_one()
        distinct = q("select count(*) from (select distinct fingerprint, starts_at from alerts) d").scalar_one()
        incidents = q("select count(*) from incidents").scalar_one()
    engine.dispose()
    return int(stored), int(distinct), int(incidents)


def episodes(bodies: list[bytes]) -> int:
    return len({(a["fingerprint"], a["startsAt"]) for b in bodies for a in orjson.loads(b)["alerts"]})


def run_tocsin(bodies: list[bytes], sync: str, concurrency: int, db: str) -> tuple[Result, int, int]:
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-") as d, contextlib.ExitStack() as stack:
        url = (f"sqlite:///{Path(d) / 'bench.db'}" if db == "sqlite"
               else stack.enter_context(pg.cluster(fsync=PG_FSYNC)))
        proc, port = start_tocsin(Path(d), sync, url)
        try:
            r, statuses = drive(port, bodies, concurrency)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        stored, distinct, incidents = counts(url)
    if set(statuses) != {200}:
        raise SystemExit(f"not every request was acknowledged: {statuses}")
    if stored != distinct or stored != episodes(bodies):
        raise SystemExit(f"acknowledged {episodes(bodies)} alert episodes; stored {stored} rows, {distinct} distinct")
    return r, stored, incidents


def run_bare(bodies: list[bytes], concurrency: int) -> Result:
    proc, port = start_bare()
    try:
        return drive(port, bodies, concurrency)[0]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--pg-fsync", choices=["on", "off"], default="on",
                    help="postgresql: the throw-away cluster's fsync (on: commits are durable, as in production)")
    ap.add_argument("--payloads", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--sync", choices=["FULL", "NORMAL"], default="FULL")
    ap.add_argument("--mode", choices=["new", "repeat"], default="new",
                    help="new: every payload carries 10 new alerts (worst case); repeat: Alertmanager re-sends")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median round is reported")
    ap.add_argument("--ingest", choices=["process", "inprocess"], default="process",
                    help="process: the ingest child process of `tocsin serve` (default); inprocess: ingest.process "
                         "false, the whole transaction on the writer thread of the HTTP process")
    args = ap.parse_args()
    global INGEST, PG_FSYNC
    INGEST, PG_FSYNC = args.ingest, args.pg_fsync == "on"
    store = (f"SQLite {sqlite3.sqlite_version}, synchronous={args.sync}" if args.db == "sqlite"
             else f"{pg.version()}, fsync={args.pg_fsync}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {store}, "
          f"mode={args.mode}, {args.payloads} payloads x 10 alerts, concurrency {args.concurrency}, "
          f"{args.rounds} rounds, ingest={args.ingest}")
    bodies = [payload(i, args.mode) for i in range(args.payloads)]
    ours, bare = [], []
    for i in range(args.rounds):
        t, stored, incidents = run_tocsin(bodies, args.sync, args.concurrency, args.db)
        b = run_bare(bodies, args.concurrency)
        rt, rb = report(f"tocsin#{i + 1}", t, 10), report(f"bare#{i + 1}", b, 10)
        print(f"   round {i + 1}: ratio {rt / rb:.2f}, stored alerts {stored}, incidents {incidents}")
        ours.append((rt, t))
        bare.append((rb, b))
    mt = sorted(ours, key=lambda x: x[0])[len(ours) // 2]
    mb = sorted(bare, key=lambda x: x[0])[len(bare) // 2]
    print("median:")
    report("tocsin", mt[1], 10)
    report("bare", mb[1], 10)
    print(f"ratio tocsin/bare (medians): {mt[0] / mb[0]:.2f}")


if __name__ == "__main__":
    main()
