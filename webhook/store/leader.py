"""Leadership: which replica runs the singleton jobs (retention, reconcile with Alertmanager).

PostgreSQL: the replica whose own session holds a session-level advisory lock. The lock is released by the
server the moment that session ends: when the process dies (its socket closes), when the database restarts or
fails over, and, for a leader that is hung but not dead (SIGSTOP, a stalled VM), after `idle_session_timeout`
(`database.leader_lease`): the leader touches its session every tick, so only a leader that stopped touching
it loses it. Every replica tries to take the lock each tick, so a new leader follows within a lease plus a tick.
The lock's session is not a pool connection, so a busy pool cannot take leadership away.

A leader that was hung learns it lost the lock at its next check (the server ended its session). A job that
must not overlap a new leader's checks `holds_lock(conn)` inside its own transaction: the check and the job's
writes commit together or not at all.

SQLite: one process owns the file; it is always the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

log = logging.getLogger("tocsin.leader")

#: Two-int advisory lock key (namespace, id); the ingest stripes use namespace 74631002.
LOCK_NAMESPACE, LOCK_ID = 74631003, 1


class Leadership:
    """`await is_leader()` each tick; `holds_lock(conn)` in a singleton job's transaction; `close()` at exit."""

    def __init__(self, url: str, *, lease: timedelta = timedelta(seconds=10), check_timeout: float = 3.0) -> None:
        u = make_url(url)
        self.sqlite = u.get_backend_name() == "sqlite"
        self.lease_ms = max(int(lease.total_seconds() * 1000), 1000)
        self.check_timeout = check_timeout
        self._engine = None if self.sqlite else create_engine(
            u, poolclass=NullPool, isolation_level="AUTOCOMMIT",
            connect_args={"connect_timeout": 5, "application_name": "tocsin-leader",
                          "options": f"-c idle_session_timeout={self.lease_ms} -c statement_timeout=2000"})
        self._conn: Connection | None = None
        self._pid: int | None = None
        self._leader = self.sqlite
        self._lock = threading.Lock()

    @property
    def leader(self) -> bool:
        """What the last check found (no I/O)."""
        return self._leader

    @property
    def backend_pid(self) -> int | None:
        """The PostgreSQL backend that holds (or tries for) the lock, for `holds_lock`."""
        return self._pid

    async def is_leader(self) -> bool:
        """Check (and try to take) the leadership; False when the database does not answer in time."""
        if self.sqlite:
            return True
        try:
            return await asyncio.wait_for(asyncio.to_thread(self.check), self.check_timeout)
        except TimeoutError:
            log.warning("leadership check timed out; acting as a follower")
            self._leader = False
            return False

    def check(self) -> bool:
        """Blocking: keep or take the lock on this replica's own session. Never raises."""
        if self.sqlite:
            return True
        with self._lock:
            was = self._leader
            try:
                self._leader = self._check()
            except Exception as exc:  # any driver failure means: not the leader now
                log.info("leadership session lost: %s", type(exc).__name__)
                self._drop()
                self._leader = False
            if self._leader != was:
                log.warning("this replica %s the leadership", "took" if self._leader else "lost")
            return self._leader

    def _check(self) -> bool:
        assert self._engine is not None
        if self._conn is None:
            self._conn = self._engine.connect()  # autocommit: the session is never idle in a transaction
            self._pid = int(self._conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
            self._leader = False
        if self._leader:  # touch the session (resets idle_session_timeout) and confirm we still hold the lock
            return bool(self._conn.execute(text(_HELD), {"pid": self._pid, **_KEY}).scalar_one())
        return bool(self._conn.execute(text("SELECT pg_try_advisory_lock(:ns, :id)"), _KEY).scalar_one())

    def _drop(self) -> None:
        conn, self._conn, self._pid = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()
                conn.close()

    def close(self) -> None:
        """Hand the leadership over now (unlock and close the session) instead of after the lease."""
        with self._lock:
            if self._conn is not None and self._leader:
                with contextlib.suppress(Exception):
                    self._conn.execute(text("SELECT pg_advisory_unlock(:ns, :id)"), _KEY)
            self._drop()
            self._leader = self.sqlite
        if self._engine is not None:
            self._engine.dispose()

    def holds_lock(self, conn: Connection) -> bool:
        """Inside a job's transaction: does this replica's leader session hold the lock right now (a fence)?"""
        if self.sqlite:
            return True
        if self._pid is None:
            return False
        return bool(conn.execute(text(_HELD), {"pid": self._pid, **_KEY}).scalar_one())


_KEY: dict[str, Any] = {"ns": LOCK_NAMESPACE, "id": LOCK_ID}
_HELD = ("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = :ns AND objid = :id"
         " AND objsubid = 2 AND granted AND pid = :pid)")
