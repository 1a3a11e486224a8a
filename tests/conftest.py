"""Suite-wide fixtures: a PostgreSQL server for the session, fresh databases per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.procs import postgres_server

pytest_plugins = ["tests.fakes.plugin", "tests.support.plugin"]

_counter = itertools.count()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of the session's PostgreSQL server (Debian's package, started on a free loopback port)."""
    with postgres_server() as url:
        yield url


@pytest.fixture
def fresh_pg_url(postgres_url: str) -> str:
    """A new empty database on the session server."""
    name = f"t{next(_counter)}"
    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return postgres_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every storage test runs on the embedded default and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tocsin.db'}"
    url: str = request.getfixturevalue("fresh_pg_url")
    return url
