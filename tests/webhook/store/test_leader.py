"""Leadership of the singleton jobs: one PostgreSQL session advisory lock; lost with the session (crash, hang),
handed over on close, fenced inside a job's transaction; SQLite is always its own leader."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.support.clock import FakeClock
from tests.support.harness import make_config, start_harness
from webhook import metrics
from webhook.app import tick
from webhook.store.db import StorageUnavailable
from webhook.store.leader import LOCK_ID, LOCK_NAMESPACE, Leadership

HOLDERS = ("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = :ns AND objid = :id AND granted")


def holders(url: str) -> list[int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [int(r.pid) for r in conn.execute(text(HOLDERS), {"ns": LOCK_NAMESPACE, "id": LOCK_ID})]
    finally:
        engine.dispose()


def wait_for(cond: Callable[[], bool], deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while not cond():
        assert time.monotonic() < end, "condition not reached before the deadline"
        time.sleep(0.1)


def test_sqlite_is_always_its_own_leader(tmp_path: Path) -> None:
    lead = Leadership(f"sqlite:///{tmp_path / 'x.db'}")
    assert lead.check() and lead.leader
    lead.close()
    assert lead.leader


def test_one_leader_and_a_handover_on_close(fresh_pg_url: str) -> None:
    a, b = Leadership(fresh_pg_url), Leadership(fresh_pg_url)
    try:
        assert a.check() and not b.check()
        assert a.check() and not b.check()  # both keep their view; the lock stays where it is
        assert holders(fresh_pg_url) == [a.backend_pid]
        a.close()
        assert b.check() and not a.leader and holders(fresh_pg_url) == [b.backend_pid]
    finally:
        a.close()
        b.close()


def test_a_dead_leaders_session_frees_the_lock_at_once(fresh_pg_url: str) -> None:
    """A SIGKILLed replica's socket closes; the server ends its session and the lock goes with it."""
    a, b = Leadership(fresh_pg_url), Leadership(fresh_pg_url)
    try:
        assert a.check() and not b.check()
        engine = create_engine(fresh_pg_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": a.backend_pid}).scalar_one()
        engine.dispose()
        wait_for(lambda: holders(fresh_pg_url) == [])
        assert b.check()
        assert not a.check() and not a.leader  # the old leader learns it at its next check, never claims twice
        assert holders(fresh_pg_url) == [b.backend_pid]
    finally:
        a.close()
        b.close()


def test_a_hung_leader_loses_the_lock_after_its_lease(fresh_pg_url: str) -> None:
    """SIGSTOP: the socket stays open, but the leader stops touching its session; idle_session_timeout ends it."""
    a = Leadership(fresh_pg_url, lease=timedelta(seconds=1))
    b = Leadership(fresh_pg_url, lease=timedelta(seconds=1))
    try:
        assert a.check()
        old = a.backend_pid
        started = time.monotonic()
        wait_for(lambda: b.check())  # `a` is "hung": it never checks while `b` keeps trying
        assert time.monotonic() - started >= 0.9  # not before the lease ran out
        assert holders(fresh_pg_url) == [b.backend_pid] and old != b.backend_pid
        assert not a.check()  # resumed: its session was ended by the server
    finally:
        a.close()
        b.close()


def test_the_fence_is_checked_inside_the_jobs_transaction(fresh_pg_url: str) -> None:
    a, b = Leadership(fresh_pg_url), Leadership(fresh_pg_url)
    engine = create_engine(fresh_pg_url)
    try:
        assert a.check()
        with engine.begin() as conn:
            assert a.holds_lock(conn) and not b.holds_lock(conn)
        a.close()
        assert b.check()
        with engine.begin() as conn:
            assert b.holds_lock(conn) and not a.holds_lock(conn)
    finally:
        a.close()
        b.close()
        engine.dispose()


def test_an_unreachable_database_means_follower(tmp_path: Path) -> None:
    from tests.support.procs import free_port

    lead = Leadership(f"postgresql+psycopg://tocsin@127.0.0.1:{free_port()}/postgres")
    try:
        assert not lead.check() and not lead.leader and lead.backend_pid is None
    finally:
        lead.close()


class _Follower:
    def __init__(self) -> None:
        self.checks = 0

    async def is_leader(self) -> bool:
        self.checks += 1
        return False


class _Job:
    def __init__(self) -> None:
        self.ran = 0

    async def tick(self, now: object = None) -> int:
        self.ran += 1
        return 0


async def test_singletons_run_only_on_the_leader(db_url: str, tmp_path: Path) -> None:
    async for h in start_harness(make_config(db_url, tmp_path), FakeClock()):
        svc = h.app.state.svc
        job, worker = _Job(), _Job()
        svc.singletons[:] = [job]
        svc.workers.append(worker)
        real = svc.leader
        svc.leader = follower = _Follower()
        await tick(svc)
        assert follower.checks == 1 and job.ran == 0 and worker.ran == 1
        assert metrics.REGISTRY.get_sample_value("tocsin_leader") == 0
        svc.leader = real  # the only replica: the leader
        await tick(svc)
        assert job.ran == 1 and worker.ran == 2 and metrics.REGISTRY.get_sample_value("tocsin_leader") == 1
        # the database fails the tick's writes: the gauge still says this replica is no longer the leader
        real_write = svc.db.write

        async def down(*_a: object, **_k: object) -> None:
            raise StorageUnavailable("database down")

        svc.db.write, svc.leader = down, follower
        await tick(svc)
        assert metrics.REGISTRY.get_sample_value("tocsin_leader") == 0 and job.ran == 1
        svc.db.write, svc.leader = real_write, real
