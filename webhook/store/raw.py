"""Driver-level access for the ingest hot path: pre-written SQL on the DBAPI cursor, executemany, no ORM."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection

CHUNK = 900  # stays under SQLite's bound-variable limit with room to spare


class Raw:
    """One transaction's cursor with values and placeholders adapted to the dialect.

    SQLite stores datetimes as text in SQLAlchemy's format and JSON as text; PostgreSQL takes native values
    (psycopg sends str as 'unknown', so the server casts text to jsonb itself).
    """

    def __init__(self, conn: Connection) -> None:
        self.sqlite = conn.dialect.name == "sqlite"
        self.cur = conn.connection.cursor()

    def sql(self, text: str) -> str:
        return text if self.sqlite else text.replace("?", "%s")

    def dt(self, value: datetime | None) -> Any:
        if value is None or not self.sqlite:
            return value
        if value.utcoffset():
            value = value.astimezone(UTC)
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:{value.minute:02d}:" \
               f"{value.second:02d}.{value.microsecond:06d}"

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
        return orjson.dumps(value).decode()

    def many(self, text: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.cur.executemany(self.sql(text), rows)

    def execute(self, text: str, row: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.cur.execute(self.sql(text), tuple(row))
        return list(self.cur.fetchall()) if self.cur.description else []

    def select_in(self, text: str, values: Iterable[Any], extra: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run `text` (with one `{in}` marker) over chunks of values; extra params follow the IN list."""
        vals, out = list(values), []
        for i in range(0, len(vals), CHUNK):
            part = vals[i:i + CHUNK]
            out += self.execute(text.format(in_=", ".join("?" * len(part))), [*part, *extra])
        return out
