"""Driver-level access for the ingest hot path: pre-written SQL on the DBAPI cursor, executemany, no ORM."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection

CHUNK = 900  # stays under SQLite's bound-variable limit with room to spare
#: rows per multi-row statement; 256 rows of the widest table (18 columns) stay far below 32766 variables
SIZES = (256, 64, 16, 4, 1)
#: SQLite's text form of recent datetimes (an alert's startsAt recurs in every re-send): a memo, not state
_DT_TEXT: dict[datetime, str] = {}
#: UPDATE ... FROM needs SQLite 3.33
MULTI_ROW = sqlite3.sqlite_version_info >= (3, 33)


def json_text(value: Any, canonical: bool = False) -> str:
    """JSON as stored in the database (canonical: keys sorted, so that equal values compare equal as text)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if canonical else 0).decode()


class Raw:
    """One transaction's cursor with values and placeholders adapted to the dialect.

    SQLite stores datetimes as text in SQLAlchemy's format and JSON as text; PostgreSQL takes native values
    (psycopg sends str as 'unknown', so the server casts text to jsonb itself).
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        self.cur = conn.connection.cursor()

    def sql(self, text: str) -> str:
        return text if self.sqlite else text.replace("?", "%s")

    def dt(self, value: datetime | None) -> Any:
        if value is None or not self.sqlite:
            return value
        text = _DT_TEXT.get(value)
        if text is None:
            utc = value.astimezone(UTC) if value.utcoffset() else value
            text = f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d} {utc.hour:02d}:{utc.minute:02d}:" \
                   f"{utc.second:02d}.{utc.microsecond:06d}"
            if len(_DT_TEXT) >= 65536:
                _DT_TEXT.clear()
            _DT_TEXT[value] = text
        return text

    @staticmethod
    def read_dt(value: Any) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value
        return datetime.fromisoformat(value).replace(tzinfo=UTC)

    @classmethod
    def read_when(cls, value: Any) -> datetime:
        """A NOT NULL timestamp column."""
        when = cls.read_dt(value)
        if when is None:
            raise ValueError("NULL in a NOT NULL timestamp column")
        return when

    @staticmethod
    def read_js(value: Any) -> Any:
        return orjson.loads(value) if isinstance(value, str | bytes) else value

    def flag(self, value: bool) -> Any:
        return int(value) if self.sqlite else value

    @staticmethod
    def js(value: Any) -> str:
        return json_text(value)

    def many(self, text: str, rows: Sequence[Sequence[Any]], cte: str | None = None,
             types: Sequence[str] = ()) -> None:
        """Run `text` for every row, as few statements as the dialect allows.

        `cte` is the same over all rows: `WITH v(...) AS ({values}) UPDATE ... FROM v ...`. `types` are the
        PostgreSQL types of a row's values, in order.

        PostgreSQL: one statement whatever the number of rows, the rows passed as one array per column
        (`INSERT ... SELECT * FROM unnest(%s::text[], ...)`, `v` as `SELECT * FROM unnest(...)`). The statement
        text is short and fixed, so psycopg converts it once and the server plans it once (prepared), and the
        arrays are dumped by psycopg's C code; per-row statements (executemany) cost a Bind/Execute and a
        Python round through the driver for every row, and multi-row VALUES a query text too long to cache.
        SQLite: multi-row VALUES in a few fixed sizes; one statement for many rows is one sqlite3_step, during
        which the driver releases the GIL (executemany takes it back after every row).
        """
        if not rows:
            return
        if not self.sqlite and types:
            cols = [list(c) for c in zip(*rows, strict=True)]
            arrays = "SELECT * FROM unnest(" + ", ".join(f"%b::{t}[]" for t in types) + ")"  # binary: no escaping
            if cte is not None:
                self.cur.execute(cte.format(values=arrays), cols)
                return
            head, sep, _ = text.partition(" VALUES ")
            if sep and text.startswith("INSERT"):
                self.cur.execute(f"{head} {arrays}", cols)
                return
        if self.sqlite and len(rows) > 1 and MULTI_ROW:
            if cte is not None:
                self._chunked(lambda tuples: cte.format(values=f"VALUES {tuples}"), rows)
                return
            head, sep, row = text.partition(" VALUES ")
            if sep and text.startswith("INSERT"):
                self._chunked(lambda tuples: f"{head} VALUES {tuples}", rows, row)
                return
        self.cur.executemany(self.sql(text), rows)

    def _chunked(self, statement: Callable[[str], str], rows: Sequence[Sequence[Any]], row: str = "") -> None:
        row = row or "(" + ", ".join("?" * len(rows[0])) + ")"
        i = 0
        for size in SIZES:  # a few fixed sizes: the driver's statement cache keeps each compiled
            while len(rows) - i >= size:
                part = rows[i:i + size]
                self.cur.execute(statement(", ".join([row] * size)), [v for r in part for v in r])
                i += size

    def execute(self, text: str, row: Sequence[Any] = (), prepare: bool | None = None) -> list[tuple[Any, ...]]:
        """`prepare=False` (PostgreSQL): planned for these very values every time; psycopg otherwise prepares a
        statement after 5 runs and PostgreSQL may then settle on a generic plan."""
        if self.sqlite:
            self.cur.execute(text, tuple(row))
        else:
            self.cur.execute(self.sql(text), tuple(row), prepare=prepare)  # type: ignore[call-arg]  # psycopg 3
        return list(self.cur.fetchall()) if self.cur.description else []

    def select_in(self, text: str, values: Iterable[Any], extra: Sequence[Any] = (),
                  prepare: bool | None = None) -> list[tuple[Any, ...]]:
        """Run `text` (with one `IN ({in_})`) over chunks of values; extra params follow the IN list.

        PostgreSQL: one `= ANY(array)` parameter instead: the same statement text for any number of values, one
        round trip however many there are."""
        vals, out = list(values), []
        if not self.sqlite:
            return self.execute(text.replace("IN ({in_})", "= ANY(?)"), [vals, *extra], prepare) if vals else []
        for i in range(0, len(vals), CHUNK):
            part = vals[i:i + CHUNK]
            out += self.execute(text.format(in_=", ".join("?" * len(part))), [*part, *extra])
        return out
