"""Database handle: one engine, a single writer thread and a reader pool, the only I/O seam to storage."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import orjson
from sqlalchemy import Connection as Connection  # the transaction handle features receive (re-exported)
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from webhook.store.raw import json_text

T = TypeVar("T")
P = ParamSpec("P")


class StorageUnavailable(Exception):
    """The database could not be reached or refused the transaction; callers answer 503."""


def make_engine(url: str, *, sqlite_synchronous: str = "FULL", pool_size: int = 5) -> Engine:
    """Engine for SQLite (WAL, busy timeout, foreign keys) or PostgreSQL (psycopg 3)."""
    u = make_url(url)
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
    kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_timeout=5,
                  connect_args={"connect_timeout": 5})
    return create_engine(u, **kwargs)


class Database:
    """Runs blocking SQLAlchemy work off the event loop: writes serialised on one thread, reads pooled."""

    def __init__(self, engine: Engine, readers: int = 4) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="tocsin-db-write")
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="tocsin-db-read")

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Database:
        return cls(make_engine(url, **kwargs))

    def _tx(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            with self.engine.begin() as conn:
                return fn(conn, *args, **kwargs)
        except SQLAlchemyError as exc:
            raise StorageUnavailable(f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from exc

    def run_write(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Synchronous transaction (CLI, migrations-adjacent code, tests)."""
        return self._tx(fn, *args, **kwargs)

    async def write(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run fn(conn, ...) in one transaction on the writer thread; commit on return."""
        loop = asyncio.get_running_loop()
        call = functools.partial(self._tx, fn, *args, **kwargs)
        return await loop.run_in_executor(self._writer, call)

    async def read(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        call = functools.partial(self._tx, fn, *args, **kwargs)
        return await loop.run_in_executor(self._readers, call)

    async def ping(self) -> None:
        await self.read(lambda conn: conn.execute(text("SELECT 1")).scalar_one())

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self.engine.dispose()
