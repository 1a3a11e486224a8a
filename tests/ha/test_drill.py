"""The HA drill (issue 11 point 4): faults injected into a running cluster (tests/ha/cluster.py), each with a
seed, while webhooks are posted to HAProxy and Prometheus alerts escalate through the fake vendors.

Per fault and run it counts: webhooks acknowledged (200) and their alerts stored (none may be lost), drill
incidents and their escalation steps (each fired once), vendor messages per (incident, step) (none missing,
none twice), leaders seen at once (PostgreSQL's pg_locks and the replicas' tocsin_leader), the longest time
without a leader, and after a promotion the time until a webhook is stored again.

`make test` runs one seed per fault; `make test-ha` runs TOCSIN_HA_SEEDS (5) and prints the table, which
docs/operations.md ("High availability") quotes. TOCSIN_HA_REPORT=path also writes it to a file;
TOCSIN_HA_KEEP=1 keeps the cluster's directories (HAProxy's log of every request, the replicas', PostgreSQL's).
"""

from __future__ import annotations

import functools
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.ha.cluster import (
    LEASE_S,
    STEPS,
    Cluster,
    LeaderWatch,
    Load,
    PageCounts,
    page_counts,
    pages_complete,
    stored_load,
    wait_until,
)
from tests.ha.conftest import SEEDS

pytestmark = pytest.mark.e2e

#: Drill incidents (Prometheus alerts) per run; each escalates through every step of the policy.
PAGES = 2
#: Slack allowed beyond the lease for "some replica is leader again" (a tick, the check, the sampling).
LEADER_SLACK_S = 5.0
RESTORE_LIMIT_S = 30.0
FAULTS = ("replica SIGKILL", "replica SIGSTOP", "standby promotion", "Alertmanager restart")


@dataclass
class Run:
    fault: str
    seed: int
    run: str
    note: str = ""
    requests: Counter[str] = field(default_factory=Counter)
    acked: int = 0
    stored: int = 0
    lost: int = 0
    dup_rows: int = 0
    pages: PageCounts = field(default_factory=PageCounts)
    pages_done: bool = False
    leaders_pg: int = 0
    leaders_metrics: int = 0
    leaders_metrics_raw: int = 0
    leaderless_s: float = 0.0
    restore_s: float | None = None
    leader_after_promotion_s: float | None = None
    outage_answers: Counter[str] = field(default_factory=Counter)
    fault_at: float = 0.0  # monotonic time the fault was injected
    errors_after: list[float] = field(default_factory=list)  # load requests not answered 200/503, s after it


RUNS: list[Run] = []
Inject = Callable[[Cluster, random.Random, Run, LeaderWatch], None]


def drill(cluster: Cluster, fault: str, inject: Inject) -> list[Run]:
    runs = []
    for seed in range(SEEDS):
        rng = random.Random(f"{fault}/{seed}")
        r = Run(fault, seed, f"{fault.split()[-1].lower()}-{seed}-{int(time.time())}")
        with LeaderWatch(cluster) as watch:
            load = Load(cluster.haproxy_url, r.run).start()
            try:
                time.sleep(rng.uniform(0.5, 1.5))
                cluster.fire_pages(r.run, PAGES)
                time.sleep(rng.uniform(0.5, 3.0))  # the fault lands while the steps fall due
                inject(cluster, rng, r, watch)
                time.sleep(2.0)  # load goes on after the recovery
            finally:
                load.stop()
            try:
                wait_until(f"{r.run}: all steps and pages", functools.partial(pages_complete, cluster, r.run, PAGES),
                           45)
                r.pages_done = True
            except TimeoutError:
                r.pages_done = False
            time.sleep(1.5)  # a late duplicate would show up here
        stored, r.dup_rows = stored_load(cluster, r.run)
        r.requests = load.statuses
        r.errors_after = [t - r.fault_at for t, status in load.timeline if status not in ("200", "503")]
        r.acked = len(load.acked)
        r.stored = len(load.acked & stored)
        r.lost = len(load.acked - stored)
        r.pages = page_counts(cluster, r.run, PAGES)
        r.leaders_pg = watch.max_pg()
        r.leaders_metrics = watch.max_gauges_persistent()
        r.leaders_metrics_raw = watch.max_gauges_raw()
        r.leaderless_s = watch.max_leaderless(since=watch.samples[0].at + 1 if watch.samples else 0)
        if r.fault == "standby promotion":
            cluster.pg.rebuild_standby()  # the next promotion needs a synchronous standby again
        RUNS.append(r)
        runs.append(r)
    return runs


def check(runs: list[Run], *, leaderless_limit: float = LEASE_S + LEADER_SLACK_S) -> None:
    problems = []
    for r in runs:
        p = r.pages
        where = f"{r.fault} seed {r.seed} ({r.note})"
        if r.lost or r.dup_rows:
            problems.append(f"{where}: {r.lost} acknowledged alerts lost, {r.dup_rows} stored twice")
        if p.incidents != PAGES or p.duplicate_incidents:
            problems.append(f"{where}: {p.incidents} drill incidents of {PAGES}, {p.duplicate_incidents} duplicates")
        if p.steps_missed or p.steps_repeated:
            problems.append(f"{where}: steps missed {p.steps_missed}, repeated {p.steps_repeated}")
        missing = {v: PAGES - p.pages[v] for v in ("pagerduty", "slack", "sms-alice", "sms-bob")
                   if p.pages[v] < PAGES}
        if missing and not p.delayed_by_lease:
            problems.append(f"{where}: pages missing {missing}")
        if sum(p.duplicates.values()):
            problems.append(f"{where}: duplicate pages {dict(p.duplicates)}")
        if r.leaders_pg > 1 or r.leaders_metrics > 1:
            problems.append(f"{where}: leaders at once: pg_locks {r.leaders_pg}, /metrics {r.leaders_metrics}")
        if r.fault != "standby promotion" and r.leaderless_s > leaderless_limit:  # promotion: checked below
            problems.append(f"{where}: no leader for {r.leaderless_s:.1f} s (limit {leaderless_limit:g})")
        if r.fault == "standby promotion":
            if r.restore_s is None or r.restore_s > RESTORE_LIMIT_S:
                problems.append(f"{where}: service restored after {r.restore_s} s (limit {RESTORE_LIMIT_S:g})")
            if r.leader_after_promotion_s is None or r.leader_after_promotion_s > LEASE_S + LEADER_SLACK_S:
                problems.append(f"{where}: leader again {r.leader_after_promotion_s} s after the promotion")
            other = {k: v for k, v in r.outage_answers.items() if k != "503"}
            if other:
                problems.append(f"{where}: answers other than 503 without a primary: {other}")
    assert not problems, "\n".join(problems)


# --- the faults ---------------------------------------------------------------------------------------------


def _victim(cluster: Cluster, rng: random.Random) -> int:
    """The leader on about half the seeds (the interesting case for the lease), else any replica."""
    leader = cluster.leader_index()
    if leader is not None and rng.random() < 0.5:
        return leader
    return rng.randrange(len(cluster.replicas))


def _sigkill(cluster: Cluster, rng: random.Random, r: Run, watch: LeaderWatch) -> None:
    i = _victim(cluster, rng)
    was_leader = cluster.leader_index() == i
    r.fault_at = time.monotonic()
    cluster.replicas[i].kill()
    down = rng.uniform(1.0, 3.0)
    time.sleep(down)
    cluster.replicas[i].tocsin.start()
    cluster.wait_haproxy_up(3, 20)
    r.note = f"r{i}{' (leader)' if was_leader else ''} down {down:.1f} s"


def _sigstop(cluster: Cluster, rng: random.Random, r: Run, watch: LeaderWatch) -> None:
    i = _victim(cluster, rng)
    was_leader = cluster.leader_index() == i
    r.fault_at = time.monotonic()
    cluster.replicas[i].stop_hung()
    hung = LEASE_S + rng.uniform(1.0, 4.0)  # longer than the lease: a hung leader must lose the lock
    time.sleep(hung)
    cluster.replicas[i].cont()
    cluster.wait_haproxy_up(3, 20)
    r.note = f"r{i}{' (leader)' if was_leader else ''} hung {hung:.1f} s"


def _promotion(cluster: Cluster, rng: random.Random, r: Run, watch: LeaderWatch) -> None:
    old = cluster.pg.primary.name
    r.fault_at = t_kill = time.monotonic()
    cluster.pg.kill_primary()
    outage = rng.uniform(1.0, 4.0)  # the time an operator or Patroni takes to decide to promote
    n = 1_000_000
    while time.monotonic() < t_kill + outage:  # what clients see while no server accepts writes
        status = cluster.post_probe(r.run, n)
        n += 1
        if time.monotonic() > t_kill + 0.3:  # answers already on their way before the kill do not count
            r.outage_answers[str(status)] += 1
        time.sleep(0.2)
    cluster.pg.promote()
    t_prom = time.monotonic()
    while time.monotonic() < t_prom + RESTORE_LIMIT_S + 10:
        if cluster.post_probe(r.run, n) == 200:
            r.restore_s = time.monotonic() - t_prom
            break
        n += 1
        time.sleep(0.1)
    wait_until("a leader after the promotion", lambda: watch.first_leader_after(t_prom) is not None,
               LEASE_S + LEADER_SLACK_S + 5)
    r.leader_after_promotion_s = watch.first_leader_after(t_prom)
    r.note = f"{old} killed, promoted after {outage:.1f} s"


def _alertmanager(cluster: Cluster, rng: random.Random, r: Run, watch: LeaderWatch) -> None:
    i = rng.randrange(2)
    sig = signal.SIGKILL if rng.random() < 0.5 else signal.SIGTERM
    am = cluster.alertmanagers[i]
    assert am is not None
    r.fault_at = time.monotonic()
    am.stop(sig)
    down = rng.uniform(0.5, 3.0)
    time.sleep(down)
    cluster.start_alertmanager(i)
    r.note = f"am{i} {signal.Signals(sig).name}, down {down:.1f} s"


def test_replica_sigkill_under_load(cluster: Cluster) -> None:
    check(drill(cluster, FAULTS[0], _sigkill))


def test_replica_sigstop_hung(cluster: Cluster) -> None:
    check(drill(cluster, FAULTS[1], _sigstop))


def test_standby_promotion_after_primary_killed(cluster: Cluster) -> None:
    check(drill(cluster, FAULTS[2], _promotion))


def test_alertmanager_peer_restart(cluster: Cluster) -> None:
    check(drill(cluster, FAULTS[3], _alertmanager))


def test_final_accounting(cluster: Cluster) -> None:
    """Count every run's pages again at the end: a delivery held by a killed replica's claim is sent after its
    lease (90 s), possibly a second time if the vendor had accepted it; wait for those, then print the table."""
    if any(r.pages.delayed_by_lease for r in RUNS):
        wait_until("deliveries held by killed replicas", lambda: not int(cluster.query(
            "SELECT count(*) FROM deliveries WHERE status = 'pending' AND claimed_until IS NOT NULL")[0][0]),
            120, every=1.0)
    for r in RUNS:
        r.pages = page_counts(cluster, r.run, PAGES)
    text = table(RUNS)
    print("\n" + text)
    report = os.environ.get("TOCSIN_HA_REPORT")
    if report:
        Path(report).parent.mkdir(parents=True, exist_ok=True)
        Path(report).write_text(text + "\n")
    check(RUNS)


def table(runs: list[Run]) -> str:
    vendors = ("pagerduty", "slack", "sms-alice", "sms-bob")
    head = ["fault", "runs", "webhooks 200 / sent", "alerts acked", "stored", "lost", "drill incidents",
            "pages PD/Slack/SMS", "duplicate pages", "PD re-triggers (same dedup_key)",
            "steps expected/fired/missed/repeated", "leaders at once (pg_locks / metrics / raw)",
            "max s without leader", "restore after promotion (max s)", "answers without primary",
            "load requests not answered 200/503"]
    lines = [f"HA drill, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {SEEDS} seed(s) per fault, {PAGES} drill "
             f"incidents per run ({len(STEPS)} steps each), lease {LEASE_S:g} s", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for fault in FAULTS:
        rs = [r for r in runs if r.fault == fault]
        if not rs:
            continue
        pages = sum((r.pages.pages for r in rs), Counter[str]())
        dups = sum((r.pages.duplicates for r in rs), Counter[str]())
        req = sum((r.requests for r in rs), Counter[str]())
        restore = [r.restore_s for r in rs if r.restore_s is not None]
        outage = sum((r.outage_answers for r in rs), Counter[str]())
        row = [
            fault, str(len(rs)), f"{req['200']} / {sum(req.values())}", str(sum(r.acked for r in rs)),
            str(sum(r.stored for r in rs)), str(sum(r.lost for r in rs)),
            f"{sum(r.pages.incidents for r in rs)} / {PAGES * len(rs)}",
            f"{pages['pagerduty']}/{pages['slack']}/{pages['sms-alice'] + pages['sms-bob']}",
            str(sum(dups[v] for v in vendors)), str(sum(r.pages.pd_retriggers for r in rs)),
            "/".join(str(sum(getattr(r.pages, k) for r in rs))
                     for k in ("steps_expected", "steps_fired", "steps_missed", "steps_repeated")),
            f"{max(r.leaders_pg for r in rs)} / {max(r.leaders_metrics for r in rs)} / "
            f"{max(r.leaders_metrics_raw for r in rs)}",
            f"{max(r.leaderless_s for r in rs):.1f}",
            f"{max(restore):.1f}" if restore else "-",
            ", ".join(f"{k}: {v}" for k, v in sorted(outage.items())) or "-",
            ", ".join(f"{k}: {v}" for k, v in sorted(req.items()) if k not in ("200", "503")) or "0",
        ]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Runs:"]
    lines += [f"- {r.fault} seed {r.seed}: {r.note}; requests {dict(r.requests)}; pages {dict(r.pages.pages)}"
              f"{'; steps incomplete at the deadline' if not r.pages_done else ''}"
              f"{'; not answered at ' + ', '.join(f'{x:+.1f}' for x in r.errors_after) + ' s from the fault' if r.errors_after else ''}"  # noqa: E501
              f"{f'; restored {r.restore_s:.1f} s, leader {r.leader_after_promotion_s:.1f} s after promotion' if r.restore_s is not None and r.leader_after_promotion_s is not None else ''}"  # noqa: E501
              for r in runs]
    return "\n".join(lines)
