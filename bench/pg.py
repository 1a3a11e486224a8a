"""A throw-away PostgreSQL cluster for the benchmarks (Debian's binaries), durable by default (fsync on)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def _bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return str(found[-1])
    which = shutil.which(name)
    if which is None:
        raise SystemExit(f"PostgreSQL's {name} not found; install the Debian package 'postgresql'")
    return which


def version() -> str:
    return subprocess.run([_bin("postgres"), "--version"], capture_output=True, text=True).stdout.strip()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def cluster(fsync: bool = True, settings: dict[str, str] | None = None) -> Iterator[str]:
    """Start initdb + postgres on a free loopback port (as `postgres` when root); yield a SQLAlchemy URL."""
    root = os.geteuid() == 0
    work = Path(tempfile.mkdtemp(prefix="tocsin-bench-pg-"))
    as_user: dict[str, object] = {}
    if root:
        pw = pwd.getpwnam("postgres")
        os.chown(work, pw.pw_uid, pw.pw_gid)
        as_user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
    data = work / "pgdata"
    subprocess.run([_bin("initdb"), "-D", str(data), "-U", "tocsin", "-A", "trust", "-E", "UTF8", "--no-sync"],
                   check=True, capture_output=True, cwd=work, **as_user)  # type: ignore[call-overload]
    port = _free_port()
    opts = {"listen_addresses": "127.0.0.1", "max_connections": "300", "fsync": "on" if fsync else "off",
            "shared_buffers": "256MB", **(settings or {})}
    args = [_bin("postgres"), "-D", str(data), "-p", str(port), "-k", str(work)]
    for k, v in opts.items():
        args += ["-c", f"{k}={v}"]
    log = (work / "postgres.log").open("ab")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=work, start_new_session=True,
                            **as_user)  # type: ignore[call-overload]
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"postgres exited: {(work / 'postgres.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if time.monotonic() > deadline:
                raise SystemExit("postgres did not start in 30 s")
            time.sleep(0.1)
        time.sleep(0.5)
        yield f"postgresql+psycopg://tocsin@127.0.0.1:{port}/postgres"
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(30)
        if proc.poll() is None:
            proc.kill()
        log.close()
        shutil.rmtree(work, ignore_errors=True)
