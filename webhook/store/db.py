"""Database handle: one engine, a single writer thread and a reader pool, the only I/O seam to storage."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import orjson
from sqlalchemy import Connection as Connection  # the transaction handle features receive (re-exported)
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from webhook.store.raw import json_text

T = TypeVar("T")
P = ParamSpec("P")


class StorageUnavailable(Exception):
    """The database could not be reached or refused the transaction; callers answer 503.

    The message carries the driver's first line for the logs; it is not for the answer's body (it can name
    hosts, ports and roles)."""


class StorageFailed(StorageUnavailable):
    """The database or its driver raised: the message quotes the driver (hosts, roles) and is for the log only."""


class DataRefused(StorageFailed):
    """The database refused a value (a data error, not an outage): the same data fails again on every retry."""


#: Driver errors surface as they are where code uses the DBAPI cursor (the ingest hot path); both kinds below
#: are turned into StorageUnavailable, the value kind (data errors, integer overflow) into DataRefused.
try:
    import psycopg

    _DRIVER_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, psycopg.Error)
    _DATA_ERRORS: tuple[type[Exception], ...] = (sqlite3.DataError, psycopg.DataError, OverflowError)
except ImportError:  # pragma: no cover - psycopg is a dependency; SQLite-only installs still work
    _DRIVER_ERRORS, _DATA_ERRORS = (sqlite3.Error,), (sqlite3.DataError, OverflowError)


_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError, *_DRIVER_ERRORS, OverflowError)


def _refusal(exc: Exception) -> StorageFailed:
    orig = getattr(exc, "orig", None)
    cause = orig if isinstance(orig, Exception) else exc
    first = str(exc).splitlines()[0][:300] if str(exc) else ""
    kind = DataRefused if isinstance(cause, _DATA_ERRORS) else StorageFailed
    return kind(f"{type(cause).__name__}: {first}")


def make_engine(url: str, *, sqlite_synchronous: str = "FULL", pool_size: int = 5,
                lock_timeout_ms: int = 5000, statement_timeout_ms: int = 30000,
                idle_in_transaction_timeout_ms: int = 60000) -> Engine:
    """Engine for SQLite (WAL, busy timeout, foreign keys) or PostgreSQL (psycopg 3).

    PostgreSQL sessions get lock, statement and idle-in-transaction timeouts, so a stalled peer (a replica
    partitioned mid-transaction) cannot hold a lock, and this replica's ingest, for longer than that.

    PostgreSQL with a standby (docs/operations.md, "High availability"): list every server as a `host` query
    parameter and let libpq pick the primary, e.g.
    `postgresql+psycopg://tocsin@/tocsin?host=db-a:5432&host=db-b:5432&target_session_attrs=read-write`.
    While no listed server accepts writes every connection attempt fails (StorageUnavailable: 503, readyz
    false); an idle pooled connection is pinged before use (a dead one is replaced), so the first checkout
    after a promotion connects to the new one."""
    try:
        u = make_url(url)
    except ValueError as exc:  # libpq's `user@h1:p1,h2:p2/db` is not a URL SQLAlchemy parses (its port is int)
        if url.startswith("postgresql") and "," in url.split("?", 1)[0]:
            raise ValueError("several PostgreSQL hosts go in the query, one `host=h:p` each, e.g. "
                             "postgresql+psycopg://user@/db?host=h1:5432&host=h2:5432"
                             "&target_session_attrs=read-write") from exc
        raise
    kwargs: dict[str, Any] = {"json_serializer": json_text, "json_deserializer": orjson.loads}
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        else:
            kwargs["poolclass"] = NullPool
        kwargs["connect_args"] = {"timeout": 10, "check_same_thread": False}
        engine = create_engine(u, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()

        return engine
    options = (f"-c lock_timeout={lock_timeout_ms} -c statement_timeout={statement_timeout_ms}"
               f" -c idle_in_transaction_session_timeout={idle_in_transaction_timeout_ms}")
    kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_timeout=5,
                  connect_args={"connect_timeout": 5, "options": options})
    engine = create_engine(u, **kwargs)
    _ping_when_idle(engine)
    return engine


#: A pooled connection idle longer than this is pinged before use (a failover or restart may have ended it).
PING_AFTER_IDLE = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Like pool_pre_ping, but only for connections idle longer than PING_AFTER_IDLE: a connection in constant use
    (the ingest writer's) proves itself with every transaction, and a round trip per transaction is a tenth of
    an ingest batch's. A dead connection fails the check and the pool opens another; one that dies while busy
    fails its transaction (503, Alertmanager retries), and SQLAlchemy then discards the whole pool."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE:
            return
        try:
            with dbapi_conn.cursor() as cur:
                cur.execute("SELECT 1")
            if dbapi_conn.info.transaction_status != 0:  # IDLE: end the ping's implicit transaction
                dbapi_conn.rollback()
        except Exception as exc:
            raise DisconnectionError(f"pooled connection is gone: {type(exc).__name__}") from exc


def begin_write(conn: Connection) -> None:
    """Start a write transaction that holds the write lock from its first read (SQLite: BEGIN IMMEDIATE).

    pysqlite opens a transaction only at the first write, so the reads of a read-modify-write transaction ran
    outside it and a concurrent commit between them was overwritten (review finding 1). PostgreSQL writers lock
    the rows they read instead (SELECT ... FOR UPDATE) and change state compare-and-set.
    """
    if conn.dialect.name == "sqlite" and not getattr(conn.connection.dbapi_connection, "in_transaction", True):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """Runs blocking SQLAlchemy work off the event loop: writes serialised on one thread, reads pooled."""

    def __init__(self, engine: Engine, readers: int = 4, writers: int = 1) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        #: SQLite has one writer at a time anyway; PostgreSQL runs `writers` write transactions at once (their
        #: row and advisory locks order them), so one waiting for the server does not hold up the others.
        self.writers = 1 if self.dialect == "sqlite" else max(1, writers)
        self._writer = ThreadPoolExecutor(self.writers, thread_name_prefix="tocsin-db-write")
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="tocsin-db-read")

    @classmethod
    def from_url(cls, url: str, writers: int = 1, **kwargs: Any) -> Database:
        return cls(make_engine(url, **kwargs), writers=writers)

    def _tx(self, write: bool, fn: Callable[Concatenate[Connection, P], T], *args: P.args,
            **kwargs: P.kwargs) -> T:
        try:
            with self.engine.begin() as conn:
                if write:
                    begin_write(conn)
                return fn(conn, *args, **kwargs)
        except _ERRORS as exc:
            raise _refusal(exc) from exc

    def run_write(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Synchronous write transaction (the ingest process's loop, the CLI, tests)."""
        return self._tx(True, fn, *args, **kwargs)

    def run_read(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Synchronous read transaction (the CLI's reports and replays; it must not write)."""
        return self._tx(False, fn, *args, **kwargs)

    async def write(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run fn(conn, ...) in one write transaction on a writer thread; commit on return."""
        loop = asyncio.get_running_loop()
        call = functools.partial(self._tx, True, fn, *args, **kwargs)
        return await loop.run_in_executor(self._writer, call)

    async def read(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run fn(conn, ...) in a read transaction on the reader pool (it must not write)."""
        loop = asyncio.get_running_loop()
        call = functools.partial(self._tx, False, fn, *args, **kwargs)
        return await loop.run_in_executor(self._readers, call)

    async def ping(self) -> None:
        await self.read(lambda conn: conn.execute(text("SELECT 1")).scalar_one())

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self.engine.dispose()
