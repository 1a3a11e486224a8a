"""Start the real parts (Prometheus, Alertmanager, PostgreSQL) on free loopback ports for tests."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager") or ""
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    """A child process with its log file; stop() kills it and its group."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    url: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout)

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def spawn(name: str, args: Sequence[str], workdir: Path, env: dict[str, str] | None = None,
          user: str | None = None) -> Proc:
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"{name}.log"
    fh = log.open("ab")
    kwargs: dict[str, object] = {}
    if user is not None and os.geteuid() == 0:
        pw = pwd.getpwnam(user)
        kwargs["user"] = pw.pw_uid
        kwargs["group"] = pw.pw_gid
        kwargs["extra_groups"] = []
    popen = subprocess.Popen(
        list(args), stdout=fh, stderr=subprocess.STDOUT, cwd=workdir, env=env,
        start_new_session=True, **kwargs,  # type: ignore[call-overload]
    )
    fh.close()
    return Proc(name, popen, log)


def wait_http(proc: Proc, url: str, timeout: float = 30.0) -> None:
    """Poll url until it answers 200 or the process dies or the timeout passes."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
        try:
            r = httpx.get(url, timeout=1.0)
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.1)
    proc.stop()
    raise TimeoutError(f"{proc.name} not ready at {url} ({last}):\n{proc.tail()}")


def backfill(openmetrics: str, data_dir: Path) -> None:
    """Write TSDB blocks of `openmetrics` (text ending with `# EOF`) into `data_dir` with promtool, for a
    Prometheus started on it (`start_prometheus(data_dir=...)`) to hold that history."""
    data_dir.mkdir(parents=True, exist_ok=True)
    source = data_dir.parent / f"{data_dir.name}.om"
    source.write_text(openmetrics)
    subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(source), str(data_dir)],
                   check=True, capture_output=True, timeout=120)


def start_prometheus(workdir: Path, scrape_targets: Sequence[str] = (), rule_files: Sequence[Path] = (),
                     alertmanagers: Sequence[str] = (), interval: str = "1s", data_dir: Path | None = None,
                     retention: str = "") -> Proc:
    """Prometheus with 1 s scrape/evaluation, resend-delay 1 s, scraping the given host:port targets.

    `data_dir`: a TSDB directory to start on (e.g. filled by `backfill`), default `workdir/data`; `retention`:
    `--storage.tsdb.retention.time` (the default 15d would delete older backfilled blocks at start).
    """
    port = free_port()
    cfg: dict[str, object] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [{"job_name": "test", "static_configs": [{"targets": list(scrape_targets)}]}]
        if scrape_targets else [],
    }
    if alertmanagers:
        cfg["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]}
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(cfg))
    proc = spawn("prometheus", [
        PROMETHEUS, f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={data_dir if data_dir is not None else workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--rules.alert.resend-delay=1s",
        "--rules.alert.for-grace-period=1s", "--web.enable-lifecycle",
        *([f"--storage.tsdb.retention.time={retention}"] if retention else []),
    ], workdir)
    proc.url = f"http://127.0.0.1:{port}"
    wait_http(proc, proc.url + "/-/ready")
    return proc


def start_alertmanager(workdir: Path, config: dict[str, object], peers: Sequence[str] = (),
                       cluster_port: int | None = None, port: int | None = None) -> Proc:
    """Alertmanager on a free port (or `port`, to restart one where Prometheus finds it); with
    peers/cluster_port it joins an HA cluster on loopback."""
    port = free_port() if port is None else port
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "alertmanager.yml").write_text(yaml.safe_dump(config))
    args = [
        ALERTMANAGER, f"--config.file={workdir / 'alertmanager.yml'}", f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    if cluster_port is None:
        args.append("--cluster.listen-address=")
    else:
        args += [f"--cluster.listen-address=127.0.0.1:{cluster_port}",
                 f"--cluster.advertise-address=127.0.0.1:{cluster_port}",
                 "--cluster.gossip-interval=50ms", "--cluster.pushpull-interval=1s",
                 "--cluster.peer-timeout=1s"]
        args += [f"--cluster.peer={p}" for p in peers]
    proc = spawn("alertmanager", args, workdir)
    proc.url = f"http://127.0.0.1:{port}"
    wait_http(proc, proc.url + "/-/ready")
    return proc


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return str(found[-1])
    which = shutil.which(name)
    if which is None:
        raise FileNotFoundError(f"PostgreSQL's {name} not found; install the Debian package 'postgresql'")
    return which


@contextlib.contextmanager
def postgres_server(workdir: Path | None = None) -> Iterator[str]:
    """A throw-away PostgreSQL cluster on a free port; yields a SQLAlchemy URL (psycopg 3).

    As root the server runs as the `postgres` user (initdb refuses root), in a directory of its own
    under /tmp because pytest's temporary directories are private to root.
    """
    user = "postgres" if os.geteuid() == 0 else None
    own_dir = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="tocsin-pg-")) if workdir is None else workdir
    workdir.mkdir(parents=True, exist_ok=True)
    if user is not None:
        pw = pwd.getpwnam(user)
        os.chown(workdir, pw.pw_uid, pw.pw_gid)
    data = workdir / "pgdata"
    init = spawn("initdb", [_pg_bin("initdb"), "-D", str(data), "-U", "tocsin", "-A", "trust",
                            "--no-sync", "-E", "UTF8"], workdir, user=user)
    if init.popen.wait(60) != 0:
        raise RuntimeError(f"initdb failed:\n{init.tail()}")
    port = free_port()
    proc = spawn("postgres", [_pg_bin("postgres"), "-D", str(data), "-p", str(port), "-k", str(workdir),
                              "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                              "-c", "max_connections=200"], workdir, user=user)
    url = f"postgresql+psycopg://tocsin@127.0.0.1:{port}/postgres"
    deadline = time.monotonic() + 30
    while True:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"postgres exited:\n{proc.tail()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            break
        if time.monotonic() > deadline:
            proc.stop()
            raise TimeoutError(f"postgres did not start:\n{proc.tail()}")
        time.sleep(0.1)
    time.sleep(0.3)
    try:
        yield url
    finally:
        proc.stop(signal.SIGINT)
        if own_dir:
            shutil.rmtree(workdir, ignore_errors=True)


# --- a PostgreSQL primary with a synchronous hot standby, and HAProxy (the HA drill, tests/ha) --------------

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def _wait_port(proc: Proc, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        if time.monotonic() > deadline:
            proc.stop(signal.SIGKILL)
            raise TimeoutError(f"{proc.name} did not listen on {port}:\n{proc.tail()}")
        time.sleep(0.05)


def _pg_sql(port: int, sql: str, timeout: float = 10.0) -> list[tuple[object, ...]]:
    """Run one statement in autocommit on 127.0.0.1:port as the superuser `tocsin`; rows, if any."""
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=port, user="tocsin", dbname="postgres", autocommit=True,
                         connect_timeout=max(int(timeout), 1)) as conn:
        conn.execute(f"SET statement_timeout = {int(timeout * 1000)}")
        cur = conn.execute(sql)
        return list(cur.fetchall()) if cur.description else []


@dataclass
class PgNode:
    """One PostgreSQL server of a primary/standby pair: its own directory (owned by `postgres` as root), a port."""

    name: str
    workdir: Path
    port: int
    user: str | None
    proc: Proc | None = None

    @property
    def data(self) -> Path:
        return self.workdir / "pgdata"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.popen.poll() is None

    def prepare_dir(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir.mkdir(parents=True)
        if self.user is not None:
            pw = pwd.getpwnam(self.user)
            os.chown(self.workdir, pw.pw_uid, pw.pw_gid)

    def run(self, name: str, args: Sequence[str], timeout: float = 120) -> None:
        p = spawn(name, args, self.workdir, user=self.user)
        try:
            code = p.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            p.stop(signal.SIGKILL)
            raise TimeoutError(f"{name} took longer than {timeout} s:\n{p.tail()}") from None
        if code != 0:
            raise RuntimeError(f"{name} failed ({code}):\n{p.tail()}")

    def start(self) -> None:
        self.proc = spawn("postgres", [
            _pg_bin("postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.workdir),
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200",
            "-c", "wal_level=replica", "-c", "max_wal_senders=5", "-c", "hot_standby=on",
            "-c", "wal_receiver_status_interval=1s", "-c", "synchronous_commit=on",
        ], self.workdir, user=self.user)
        _wait_port(self.proc, self.port)
        deadline = time.monotonic() + 30
        while True:  # accepting connections (a standby answers once it reached consistency)
            try:
                _pg_sql(self.port, "SELECT 1", timeout=2)
                return
            except Exception:
                if time.monotonic() > deadline or not self.alive:
                    raise
                time.sleep(0.1)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None:
            self.proc.stop(sig, timeout=15)

    def sql(self, sql: str, timeout: float = 10.0) -> list[tuple[object, ...]]:
        return _pg_sql(self.port, sql, timeout)


class PgPair:
    """A primary and a hot standby made by `pg_basebackup -R`, replicating synchronously (no commit that a
    client saw acknowledged is missing after a promotion). The roles swap on `fail_over`; `rebuild_standby` makes
    a fresh standby on the dead primary's port, so a client's multi-host URL stays valid for ever."""

    def __init__(self) -> None:
        user = "postgres" if os.geteuid() == 0 else None
        # a directory of its own under /tmp: pytest's temporary directories are private to root
        workdir = self.workdir = Path(tempfile.mkdtemp(prefix="tocsin-ha-pg-"))
        workdir.chmod(0o755)
        self.primary = PgNode("pg-a", workdir / "pg-a", free_port(), user)
        self.standby = PgNode("pg-b", workdir / "pg-b", free_port(), user)
        self.promotions = 0

    @property
    def nodes(self) -> tuple[PgNode, PgNode]:
        return (self.primary, self.standby)

    def url(self, database: str = "postgres") -> str:
        """The multi-host SQLAlchemy URL with target_session_attrs=read-write (docs/operations.md)."""
        a, b = sorted(n.port for n in self.nodes)
        return (f"postgresql+psycopg://tocsin@/{database}?host=127.0.0.1:{a}&host=127.0.0.1:{b}"
                "&target_session_attrs=read-write")

    def start(self) -> None:
        p = self.primary
        p.prepare_dir()
        p.run("initdb", [_pg_bin("initdb"), "-D", str(p.data), "-U", "tocsin", "-A", "trust", "--no-sync",
                         "-E", "UTF8"])
        p.start()
        self.rebuild_standby()

    def rebuild_standby(self) -> None:
        """A new standby from a base backup of the primary, then make the primary wait for it on commit."""
        s, p = self.standby, self.primary
        s.kill()
        s.prepare_dir()
        s.run("pg_basebackup", [_pg_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(p.port), "-U", "tocsin",
                                "-D", str(s.data), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync"])
        s.start()
        # set after the base backup, so that the standby's copy of postgresql.auto.conf does not inherit it
        p.sql("ALTER SYSTEM SET synchronous_standby_names = '*'")
        p.sql("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 30
        while p.sql("SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'")[0][0] != 1:
            if time.monotonic() > deadline:
                raise TimeoutError(f"standby did not become synchronous:\n{s.proc.tail() if s.proc else ''}")
            time.sleep(0.1)

    def kill_primary(self) -> None:
        self.primary.kill(signal.SIGKILL)

    def promote(self) -> None:
        """Promote the standby (waits until it accepts writes); it becomes `primary`, the dead one `standby`."""
        self.standby.sql("SELECT pg_promote(true, 30)", timeout=35)
        self.primary, self.standby = self.standby, self.primary
        self.promotions += 1

    def stop(self, remove: bool = True) -> None:
        for n in self.nodes:
            with contextlib.suppress(Exception):
                n.kill(signal.SIGINT)
            with contextlib.suppress(Exception):
                n.kill(signal.SIGKILL)
        if remove:
            shutil.rmtree(self.workdir, ignore_errors=True)


def start_haproxy(workdir: Path, backends: Sequence[int], *, inter_ms: int = 500) -> Proc:
    """HAProxy in front of `tocsin serve` replicas on 127.0.0.1: health check GET /readyz, retries on connection
    failure with redispatch to another replica; every timeout bounded. proc.url is the frontend."""
    port, stats = free_port(), free_port()
    servers = "\n".join(f"    server r{i} 127.0.0.1:{p} check inter {inter_ms}ms fall 2 rise 2"
                        for i, p in enumerate(backends))
    cfg = f"""global
    maxconn 2000
    log stdout format raw local0 info

defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 30s
    timeout server 15s
    timeout http-request 10s
    timeout queue 5s
    timeout check 2s
    option redispatch
    option http-server-close
    retries 3
    retry-on conn-failure empty-response response-timeout

frontend tocsin
    bind 127.0.0.1:{port}
    default_backend replicas

frontend stats
    bind 127.0.0.1:{stats}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    stats enable
    stats uri /stats

backend replicas
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
{servers}
"""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "haproxy.cfg").write_text(cfg)
    check = subprocess.run([HAPROXY, "-c", "-f", str(workdir / "haproxy.cfg")], capture_output=True, text=True,
                           timeout=30, check=False)
    if check.returncode != 0:
        raise RuntimeError(f"haproxy config invalid:\n{check.stdout}{check.stderr}")
    proc = spawn("haproxy", [HAPROXY, "-db", "-f", str(workdir / "haproxy.cfg")], workdir)
    proc.url = f"http://127.0.0.1:{port}"
    proc.extra["stats"] = f"http://127.0.0.1:{stats}"
    wait_http(proc, proc.extra["stats"] + "/stats")
    return proc
