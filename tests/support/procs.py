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


def start_prometheus(workdir: Path, scrape_targets: Sequence[str] = (), rule_files: Sequence[Path] = (),
                     alertmanagers: Sequence[str] = (), interval: str = "1s") -> Proc:
    """Prometheus with 1 s scrape/evaluation, resend-delay 1 s, scraping the given host:port targets."""
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
        PROMETHEUS, f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--rules.alert.resend-delay=1s",
        "--rules.alert.for-grace-period=1s", "--web.enable-lifecycle",
    ], workdir)
    proc.url = f"http://127.0.0.1:{port}"
    wait_http(proc, proc.url + "/-/ready")
    return proc


def start_alertmanager(workdir: Path, config: dict[str, object], peers: Sequence[str] = (),
                       cluster_port: int | None = None) -> Proc:
    """Alertmanager on a free port; with peers/cluster_port it joins an HA cluster on loopback."""
    port = free_port()
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
