"""The HA drill's cluster on loopback: three `tocsin serve` replicas behind HAProxy, a PostgreSQL primary with a
synchronous hot standby, two gossiping Alertmanagers fed by a real Prometheus, and fake vendors that count.

Everything here is bounded in time (every wait has a deadline) and `Cluster.close()` kills every process and
removes every directory, also after a failure. What the drill measures is computed from PostgreSQL (stored
alerts, incidents, escalation steps, the advisory lock), from the replicas' /metrics and from what the fake
vendors received.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import yaml

from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.server import FakeServer
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, FakeTwilio
from tests.support.exporter import TestExporter
from tests.support.payloads import fp
from tests.support.procs import PgPair, Proc, free_port, start_alertmanager, start_haproxy, start_prometheus
from tests.support.tocsin_proc import API_TOKEN, WEBHOOK_TOKEN, Tocsin
from webhook.notifiers.messages import code_of
from webhook.store.leader import LOCK_ID, LOCK_NAMESPACE

ALICE, BOB = "+4915100000001", "+4915100000002"
#: Leadership lease of the replicas (database.leader_lease): a hung leader loses the lock after this.
LEASE_S = 4.0
#: The replicas' tick (webhook/app.py: every second).
TICK_S = 1.0
#: Escalation steps of every drill incident, by seq: (after seconds, what the vendors receive).
STEPS = ((0, "pagerduty trigger + slack #ops"), (3, f"sms {ALICE}"), (6, f"sms {BOB}"))

RULES = """
groups:
  - name: ha-drill
    rules:
      - alert: DrillPage
        expr: drill_page > 0
        labels: {severity: critical, drill: page}
        annotations: {summary: "drill page {{ $labels.run }}/{{ $labels.n }}"}
"""


def replica_config(port: int, var_dir: Path, db_url: str, slack: FakeSlack, twilio: FakeTwilio,
                   pd: FakePagerDuty) -> dict[str, Any]:
    """One replica's tocsin.yaml: the same database and vendors for all, a policy of three timed steps."""
    return {
        "server": {"host": "127.0.0.1", "port": port, "var_dir": str(var_dir), "log_level": "warning"},
        "database": {"url": db_url, "leader_lease": f"{LEASE_S:g}s", "lock_timeout": "3s",
                     "statement_timeout": "10s"},
        "auth": {"webhook": {"bearer_tokens": [WEBHOOK_TOKEN]},
                 "api_tokens": [{"name": "drill", "token": API_TOKEN}]},
        "incidents": {"key_labels": ["alertname", "drill", "run", "n"]},
        "channels": {
            "slack": {"token": "xoxb-test-token", "signing_secret": "slack-signing-secret-0123",
                      "base_url": slack.base_url, "timeout": 2},
            "twilio": {"account_sid": TEST_ACCOUNT_SID, "auth_token": TEST_AUTH_TOKEN,
                       "from_number": "+15005550006", "public_url": "https://tocsin.example.com",
                       "base_url": twilio.url, "timeout": 2},
            "pagerduty": {"services": {"platform": "pd-routing-key-platform"}, "base_url": pd.base_url,
                          "timeout": 2},
        },
        "oncall": {"responders": [{"name": "alice", "phone": ALICE, "contact_rules": [{"channel": "sms"}]},
                               {"name": "bob", "phone": BOB, "contact_rules": [{"channel": "sms"}]}]},
        "escalation": {
            "policies": [{"name": "drill", "steps": [
                {"after": "0s", "targets": [{"pagerduty": "platform"}, {"slack": "#ops"}]},
                {"after": f"{STEPS[1][0]}s", "targets": [{"user": "alice", "via": ["sms"]}]},
                {"after": f"{STEPS[2][0]}s", "targets": [{"user": "bob", "via": ["sms"]}]},
            ]}],
            # only the drill's pages escalate; the load's alerts are stored and counted, nobody is paged
            "route": {"matchers": ['drill="page"'], "policy": "drill"},
            "noise": {"storm_threshold": 0, "sms_per_hour": 10000, "voice_per_hour": 10000},
            "delivery": {"lease": "90s", "backoff_base": "1s", "backoff_max": "5s"},
        },
    }


@dataclass
class Replica:
    name: str
    tocsin: Tocsin
    stopped: bool = False  # SIGSTOPped right now

    @property
    def url(self) -> str:
        return self.tocsin.url

    @property
    def pid(self) -> int | None:
        p = self.tocsin.proc
        return p.popen.pid if p is not None and p.popen.poll() is None else None

    def kill(self) -> None:
        self.cont()
        self.tocsin.stop(signal.SIGKILL)

    def stop_hung(self) -> None:
        """SIGSTOP the process group (the HTTP process and its ingest child): hung, not dead."""
        pid = self.pid
        assert pid is not None, f"{self.name} is not running"
        os.killpg(pid, signal.SIGSTOP)
        self.stopped = True

    def cont(self) -> None:
        pid = self.pid
        if pid is not None and self.stopped:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGCONT)
        self.stopped = False

    def restart(self) -> None:
        self.tocsin.stop(signal.SIGKILL)
        self.tocsin.start()

    def leader_gauge(self, timeout: float = 0.8) -> int | None:
        """tocsin_leader from this replica's /metrics; None when it does not answer in time."""
        try:
            r = httpx.get(self.url + "/metrics", timeout=timeout)
        except httpx.HTTPError:
            return None
        m = re.search(r"^tocsin_leader (\S+)$", r.text, re.M)
        return int(float(m.group(1))) if m else None


@dataclass
class LeaderSample:
    at: float
    pg: int | None  # granted advisory locks of the leader key on the primary (None: no primary answered)
    gauges: list[int | None]  # each replica's tocsin_leader


class LeaderWatch:
    """Samples the leadership from PostgreSQL's pg_locks and every replica's /metrics until stopped."""

    def __init__(self, cluster: Cluster, every: float = 0.4) -> None:
        self.cluster, self.every = cluster, every
        self.samples: list[LeaderSample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="leader-watch", daemon=True)
        self._conn: psycopg.Connection[Any] | None = None

    def __enter__(self) -> LeaderWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()

    def _pg_count(self) -> int | None:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.cluster.conninfo(), autocommit=True, connect_timeout=2)
            row = self._conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s"
                " AND objsubid = 2 AND granted", (LOCK_NAMESPACE, LOCK_ID)).fetchone()
            return int(row[0]) if row else 0
        except psycopg.Error:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.close()
            self._conn = None
            return None

    def _run(self) -> None:
        while not self._stop.is_set():
            t = time.monotonic()
            pg = self._pg_count()
            gauges = [r.leader_gauge() if not r.stopped else None for r in self.cluster.replicas]
            self.samples.append(LeaderSample(t, pg, gauges))
            self._stop.wait(max(self.every - (time.monotonic() - t), 0.05))

    # --- what the samples say ------------------------------------------------------------------------
    def max_pg(self) -> int:
        return max((s.pg or 0 for s in self.samples), default=0)

    def max_gauges_raw(self) -> int:
        return max((sum(1 for g in s.gauges if g == 1) for s in self.samples), default=0)

    def max_gauges_persistent(self) -> int:
        """Replicas reporting 1 at a sample AND at the first sample more than a tick later (a replica resumed
        from SIGSTOP may show a stale 1 until its next tick); the brief's "sample twice a tick apart"."""
        out = 0
        for i, s in enumerate(self.samples):
            later = next((x for x in self.samples[i + 1:] if x.at >= s.at + TICK_S + 0.1), None)
            if later is None:
                break
            both = sum(1 for a, b in zip(s.gauges, later.gauges, strict=True) if a == 1 and b == 1)
            out = max(out, both)
        return out

    def max_leaderless(self, since: float = 0.0) -> float:
        """Longest stretch (s) after `since` in which PostgreSQL showed no holder of the leader lock."""
        worst, gap_start = 0.0, None
        for s in self.samples:
            if s.at < since:
                continue
            if s.pg == 1:
                if gap_start is not None:
                    worst = max(worst, s.at - gap_start)
                gap_start = None
            elif gap_start is None:
                gap_start = s.at
        if gap_start is not None and self.samples:
            worst = max(worst, self.samples[-1].at - gap_start)
        return worst

    def first_leader_after(self, since: float) -> float | None:
        for s in self.samples:
            if s.at >= since and s.pg == 1:
                return s.at - since
        return None


@dataclass
class Load:
    """Webhooks posted straight to HAProxy by a few keep-alive clients; `acked` holds the alert numbers whose
    request got 200 (each request carries two alerts of its own)."""

    url: str
    run: str
    rate: float = 60.0
    clients: int = 4
    acked: set[int] = field(default_factory=set)
    sent: set[int] = field(default_factory=set)
    statuses: Counter[str] = field(default_factory=Counter)
    timeline: list[tuple[float, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Load:
        self._threads = [threading.Thread(target=self._client, args=(k,), daemon=True, name=f"load-{k}")
                         for k in range(self.clients)]
        for th in self._threads:
            th.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for th in self._threads:
            th.join(30)

    def _client(self, k: int) -> None:
        headers = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
        pause = self.clients / self.rate
        i = k
        with httpx.Client(timeout=httpx.Timeout(20.0, connect=2.0)) as client:
            while not self._stop.is_set():
                ns = (2 * i, 2 * i + 1)
                body = load_payload(self.run, ns)
                with self._lock:
                    self.sent.update(ns)
                try:
                    r = client.post(self.url + "/webhook/alertmanager", json=body, headers=headers)
                    status = str(r.status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                with self._lock:
                    self.statuses[status] += 1
                    self.timeline.append((time.monotonic(), status))
                    if status == "200":
                        self.acked.update(ns)
                i += self.clients
                self._stop.wait(pause)


def load_payload(run: str, ns: tuple[int, ...]) -> dict[str, Any]:
    starts = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    alerts = []
    for n in ns:
        labels = {"alertname": "DrillLoad", "drill": "load", "run": run, "n": str(n), "severity": "low"}
        alerts.append({"status": "firing", "labels": labels, "annotations": {"summary": f"load {run}/{n}"},
                       "startsAt": starts, "endsAt": "0001-01-01T00:00:00Z",
                       "generatorURL": "http://drill/", "fingerprint": fp(labels)})
    return {"version": "4", "groupKey": f'{{}}:{{run="{run}"}}', "truncatedAlerts": 0, "status": "firing",
            "receiver": "tocsin", "groupLabels": {"run": run}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://drill", "alerts": alerts}


class Cluster:
    """Start with `start()`, always `close()` (kills everything, removes the directories)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pg = PgPair()
        self.slack, self.twilio, self.pd = FakeSlack(), FakeTwilio(), FakePagerDuty()
        self.fakes: list[FakeServer] = [self.slack, self.twilio, self.pd]
        self.replicas: list[Replica] = []
        self.haproxy: Proc | None = None
        self.exporter: TestExporter | None = None
        self.prometheus: Proc | None = None
        self.alertmanagers: list[Proc | None] = [None, None]
        self._am_ports: list[tuple[int, int]] = []
        self._am_config: dict[str, Any] = {}

    # --- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        self.pg.start()
        for f in self.fakes:
            f.start()
        ports = [free_port() for _ in range(3)]
        for i, port in enumerate(ports):
            wd = self.root / f"r{i}"
            wd.mkdir(parents=True)
            cfg = replica_config(port, wd / "var", self.pg.url(), self.slack, self.twilio, self.pd)
            (wd / "tocsin.yaml").write_text(yaml.safe_dump(cfg))
            self.replicas.append(Replica(f"r{i}", Tocsin(wd, wd / "tocsin.yaml", port)))
        for r in self.replicas:  # one at a time: the first runs the migrations
            r.tocsin.start()
        self.haproxy = start_haproxy(self.root / "haproxy", ports)
        token = self.root / "webhook.token"
        token.write_text(WEBHOOK_TOKEN)
        hook = {"url": self.haproxy.url + "/webhook/alertmanager", "send_resolved": True, "max_alerts": 0,
                "http_config": {"authorization": {"type": "Bearer", "credentials_file": str(token)}}}
        self._am_config = {
            "route": {"receiver": "tocsin", "group_by": ["alertname", "run"], "group_wait": "0s",
                      "group_interval": "1s", "repeat_interval": "1h"},
            "receivers": [{"name": "tocsin", "webhook_configs": [hook]}],
        }
        self._am_ports = [(free_port(), free_port()) for _ in range(2)]
        for i in range(2):
            self.start_alertmanager(i)
        self.exporter = TestExporter()
        rules = self.root / "rules.yml"
        rules.write_text(RULES)
        self.prometheus = start_prometheus(self.root / "prometheus", [self.exporter.target], [rules],
                                           [f"127.0.0.1:{web}" for web, _ in self._am_ports])
        self.wait_haproxy_up(3, 30)

    def start_alertmanager(self, i: int) -> None:
        web, cluster = self._am_ports[i]
        peer = self._am_ports[1 - i][1]
        self.alertmanagers[i] = start_alertmanager(self.root / f"am{i}", self._am_config,
                                                   peers=[f"127.0.0.1:{peer}"], cluster_port=cluster, port=web)

    def close(self) -> None:
        keep = bool(os.environ.get("TOCSIN_HA_KEEP"))  # the logs: HAProxy's per request, the replicas', ...
        for r in self.replicas:
            with contextlib.suppress(Exception):
                r.cont()
        for p in [self.prometheus, *self.alertmanagers, self.haproxy]:
            if p is not None:
                with contextlib.suppress(Exception):
                    p.stop(signal.SIGKILL)
        for r in self.replicas:
            with contextlib.suppress(Exception):
                r.tocsin.stop(signal.SIGKILL)
        self.pg.stop(remove=not keep)
        for f in self.fakes:
            with contextlib.suppress(Exception):
                f.stop()
        if self.exporter is not None:
            with contextlib.suppress(Exception):
                self.exporter.close()
        if keep:
            print(f"\nHA drill: logs kept in {self.root} and {self.pg.workdir}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def kill_everything(self) -> None:
        """The watchdog's last resort: stop the processes so that every wait of the drill fails fast."""
        for r in self.replicas:
            with contextlib.suppress(Exception):
                r.kill()
        self.pg.stop(remove=False)

    # --- observations ---------------------------------------------------------------------------------
    def conninfo(self) -> str:
        a, b = sorted(n.port for n in self.pg.nodes)
        return (f"host=127.0.0.1,127.0.0.1 port={a},{b} user=tocsin dbname=postgres"
                " target_session_attrs=read-write")

    def query(self, sql: str, params: tuple[Any, ...] = (), timeout: float = 20.0) -> list[tuple[Any, ...]]:
        """A read on the current primary, retried until one answers (failover in progress) or the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.conninfo(), autocommit=True, connect_timeout=2) as conn:
                    return list(conn.execute(sql, params).fetchall())
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def haproxy_up(self) -> int:
        """Servers HAProxy's health checks (GET /readyz) consider up."""
        assert self.haproxy is not None
        try:
            csv = httpx.get(self.haproxy.extra["stats"] + "/stats;csv", timeout=2).text
        except httpx.HTTPError:
            return 0
        return sum(1 for line in csv.splitlines() if line.startswith("replicas,r") and ",UP" in line)

    def wait_haproxy_up(self, n: int, timeout: float) -> None:
        wait_until(f"HAProxy sees {n} replicas up", lambda: self.haproxy_up() >= n, timeout)

    def leader_index(self) -> int | None:
        gauges = [r.leader_gauge() for r in self.replicas]
        ones = [i for i, g in enumerate(gauges) if g == 1]
        return ones[0] if len(ones) == 1 else None

    def fire_pages(self, run: str, n: int) -> None:
        assert self.exporter is not None
        for k in range(n):
            self.exporter.set(f'drill_page{{run="{run}",n="{k}"}}', 1)

    def post_probe(self, run: str, n: int, timeout: float = 3.0) -> int | str:
        try:
            r = httpx.post(self.haproxy_url + "/webhook/alertmanager", json=load_payload(run, (n,)),
                           headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"}, timeout=timeout)
            return r.status_code
        except httpx.HTTPError as exc:
            return type(exc).__name__

    @property
    def haproxy_url(self) -> str:
        assert self.haproxy is not None
        return self.haproxy.url


def wait_until(what: str, cond: Callable[[], Any], timeout: float, every: float = 0.2) -> Any:
    """Poll cond() until truthy; TimeoutError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(every)


# --- counting what happened to one run's alerts ----------------------------------------------------------


@dataclass
class PageCounts:
    incidents: int = 0
    duplicate_incidents: int = 0
    steps_expected: int = 0
    steps_fired: int = 0
    steps_missed: int = 0
    steps_repeated: int = 0
    pages: Counter[str] = field(default_factory=Counter)  # vendor -> messages that page someone
    duplicates: Counter[str] = field(default_factory=Counter)  # vendor -> messages beyond one per (incident, step)
    pd_retriggers: int = 0  # PagerDuty triggers repeated with the same dedup_key (not a new page by contract)
    delayed_by_lease: int = 0  # deliveries held by a killed replica's claim at the end of the run


def page_counts(cluster: Cluster, run: str, expected: int) -> PageCounts:
    """Incidents, fired steps and vendor messages of run `run`'s drill pages."""
    c = PageCounts()
    rows = cluster.query("SELECT id, labels->>'n' FROM incidents WHERE labels->>'drill' = 'page'"
                         " AND labels->>'run' = %s", (run,))
    per_alert = Counter(n for _, n in rows)
    c.incidents = len(per_alert)
    c.duplicate_incidents = sum(v - 1 for v in per_alert.values())
    ids = [int(i) for i, _ in rows]
    c.steps_expected = expected * len(STEPS)
    if ids:
        fired = cluster.query("SELECT incident_id, seq, count(*) FROM escalation_steps WHERE incident_id = ANY(%s)"
                              " AND state = 'fired' GROUP BY incident_id, seq", (ids,))
        c.steps_fired = sum(1 for *_, k in fired)
        c.steps_repeated += sum(int(k) - 1 for *_, k in fired)
        c.delayed_by_lease = int(cluster.query(
            "SELECT count(*) FROM deliveries WHERE incident_id = ANY(%s) AND status = 'pending'"
            " AND claimed_until > now()", (ids,))[0][0])
    c.steps_missed = max(c.steps_expected - c.steps_fired, 0)
    # vendor side: one PagerDuty trigger and one Slack post (step 0), one SMS to Alice (1), one to Bob (2)
    for iid in ids:
        code = re.compile(re.escape(code_of(iid)) + r"\b")
        triggers = [r for r in list(cluster.pd.requests)
                    if isinstance(r.json, dict) and r.json.get("event_action") == "trigger"
                    and str(r.json.get("dedup_key", "")).startswith(f"tocsin-{iid}:")]
        slack = [r for r in cluster.slack.calls("chat.postMessage")
                 if r.param("thread_ts") is None and code.search(r.body.decode("utf-8", "replace"))]
        sms = [m for m in list(cluster.twilio.messages) if m.body and code.search(m.body)]
        # PagerDuty pages once per dedup_key: a re-sent trigger with the same key is counted apart
        keys = {str(r.json["dedup_key"]) for r in triggers if isinstance(r.json, dict)}
        c.pd_retriggers += len(triggers) - len(keys)
        got = {"pagerduty": len(keys), "slack": len(slack),
               "sms-alice": sum(1 for m in sms if m.to == ALICE), "sms-bob": sum(1 for m in sms if m.to == BOB)}
        for vendor, n in got.items():
            c.pages[vendor] += n
            if n > 1:
                c.duplicates[vendor] += n - 1
    return c


def pages_complete(cluster: Cluster, run: str, expected: int) -> bool:
    c = page_counts(cluster, run, expected)
    return (c.incidents == expected and c.steps_fired >= c.steps_expected
            and all(c.pages[v] >= expected for v in ("pagerduty", "slack", "sms-alice", "sms-bob")))


def stored_load(cluster: Cluster, run: str) -> tuple[set[int], int]:
    """Numbers of the load alerts of `run` stored, and how many rows beyond one per alert."""
    rows = cluster.query("SELECT labels->>'n', count(*) FROM alerts WHERE labels->>'drill' = 'load'"
                         " AND labels->>'run' = %s GROUP BY 1", (run,))
    return {int(n) for n, _ in rows}, sum(int(k) - 1 for _, k in rows)


@contextlib.contextmanager
def watchdog(cluster: Cluster, seconds: float) -> Iterator[None]:
    """If the drill overruns `seconds`, kill the cluster's processes so that every wait fails fast."""
    timer = threading.Timer(seconds, cluster.kill_everything)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
