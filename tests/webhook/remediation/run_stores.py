"""Stores for the remediation safety tests: the in-memory reference store and SqlRunStore on SQLite or
PostgreSQL, each as a fresh database; and several SqlRunStores on one database (replicas)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from remediator.store import MemoryStore, RunStore
from webhook.remediation.run_store import SqlRunStore
from webhook.store.db import Database
from webhook.store.migrate import upgrade

#: Hang guard of the tests that wait for runs to block or finish (never reached when the code is right).
WAIT = 30.0


@asynccontextmanager
async def replicas(url: str, count: int) -> AsyncIterator[list[SqlRunStore]]:
    """`count` SqlRunStores on `count` Database objects (own engine, own writer thread) of one migrated database:
    what `count` service replicas share."""
    dbs = [Database.from_url(url) for _ in range(count)]
    upgrade(dbs[0].engine)
    try:
        yield [SqlRunStore(db) for db in dbs]
    finally:
        for db in dbs:
            db.close()


@asynccontextmanager
async def run_store(kind: str, url: str | None) -> AsyncIterator[RunStore]:
    """The store named by `kind` ("memory", "sqlite", "postgres"); `url` is the database for the SQL kinds."""
    if kind == "memory":
        yield MemoryStore()
        return
    assert url is not None
    async with replicas(url, 1) as (store,):
        yield store


def store_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """The database URL of a store kind: a file under tmp_path, a fresh PostgreSQL database, or None (memory)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'tocsin.db'}"
    if kind == "postgres":
        return str(request.getfixturevalue("fresh_pg_url"))
    return None
