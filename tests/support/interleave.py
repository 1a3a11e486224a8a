"""Deterministic interleavings: run a callback at an exact point of a transaction, and a second Database on the
same store that refuses to wait for locks (so 'would it have to wait?' is answered at once, not by timing)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, create_engine, event

from webhook.store.db import Database, make_engine


def after_first_select(conn: Connection, callback: Callable[[], None]) -> None:
    """Call `callback` right after the first SELECT that `conn` executes (then behave as usual)."""
    real, done = conn.execute, [False]

    def execute(statement: Any, *args: Any, **kwargs: Any) -> Any:
        out = real(statement, *args, **kwargs)
        if not done[0] and str(statement).lstrip().upper().startswith("SELECT"):
            done[0] = True
            callback()
        return out

    conn.execute = execute  # type: ignore[method-assign]


def impatient(url: str) -> Database:
    """A second handle on the same database whose transactions fail at once instead of waiting for a lock:
    SQLite busy timeout 0, PostgreSQL lock_timeout 100 ms."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 0, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA busy_timeout=0")

        return Database(engine)
    return Database(make_engine(url, lock_timeout_ms=100))
