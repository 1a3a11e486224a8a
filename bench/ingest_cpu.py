"""Where ingest spends CPU: milliseconds of CPU per webhook payload in Tocsin's HTTP process, its ingest process
and the PostgreSQL backends (read from /proc), for the same load as bench/ingest.py.

Usage: python bench/ingest_cpu.py [--db sqlite|postgresql] [--payloads N] [--concurrency C] [--mode new|repeat]
CPU time, unlike throughput, hardly depends on what else the machine runs; it shows which process a change
made cheaper. Linux only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest
import pg
from loadgen import build_request, run

WARM = 300


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def backends() -> list[int]:
    out = subprocess.run(["pgrep", "-f", "postgres: tocsin"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    ap.add_argument("--payloads", type=int, default=6000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--mode", choices=["new", "repeat"], default="new")
    args = ap.parse_args()
    bodies = [ingest.payload(i, args.mode) for i in range(args.payloads)]
    with tempfile.TemporaryDirectory(prefix="tocsin-cpu-") as d, contextlib.ExitStack() as stack:
        url = (f"sqlite:///{Path(d) / 'b.db'}" if args.db == "sqlite" else stack.enter_context(pg.cluster()))
        proc, port = ingest.start_tocsin(Path(d), "FULL", url)
        try:
            reqs = [build_request("127.0.0.1", port, "/webhook/alertmanager", b, ingest.TOKEN) for b in bodies]
            asyncio.run(run("127.0.0.1", port, reqs[:WARM], args.concurrency))
            kids, pgs = children(proc.pid), backends()
            before = {p: cpu_seconds(p) for p in [proc.pid, *kids, *pgs]}
            started = time.monotonic()
            result = asyncio.run(run("127.0.0.1", port, reqs[WARM:], args.concurrency))
            elapsed = time.monotonic() - started
            pgs = backends()  # connections opened meanwhile count from zero
            n = len(reqs) - WARM

            def used(pids: list[int]) -> float:
                return sum(cpu_seconds(p) - before.get(p, 0.0) for p in pids) / n * 1000

            print(f"{args.db} mode={args.mode} concurrency={args.concurrency}: {n} payloads in {elapsed:.1f} s "
                  f"({n / elapsed:.0f}/s, statuses {result.statuses}); CPU ms per payload: "
                  f"HTTP {used([proc.pid]):.2f}, ingest process {used(kids):.2f}, PostgreSQL {used(pgs):.2f}")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


if __name__ == "__main__":
    main()
