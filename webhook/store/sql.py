"""Dialect-neutral SQL statements every feature's repository uses."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, Insert, Table, literal_column
from sqlalchemy.dialects import postgresql, sqlite

_WORD = re.compile(r"^[a-z_]+$")


def insert_ignore(conn: Connection, table: Table, index: Sequence[str]) -> Insert:
    """INSERT that skips rows whose unique key exists: the idempotency constraints decide, not the code."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(index))
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(index))


@cache
def _insert_ignore(dialect: str, table: Table, index: tuple[str, ...]) -> Insert:
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(index))
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(index))


def insert_ignore_cached(conn: Connection, table: Table, index: Sequence[str]) -> Insert:
    """insert_ignore built once per dialect, table and key: for the hot paths (built statements cost more than
    running them on SQLite)."""
    return _insert_ignore(conn.dialect.name, table, tuple(index))


def among(column: ColumnElement[Any], values: Sequence[str]) -> ColumnElement[bool]:
    """`column IN ('a', 'b')` with the constants written into the statement: states and kinds named in code
    (never input), so the statement needs no expanding parameter to render at every execution."""
    for v in values:
        if not _WORD.match(v):
            raise ValueError(f"among() takes code constants only, not {v!r}")
    return column.in_([literal_column(f"'{v}'") for v in values])
