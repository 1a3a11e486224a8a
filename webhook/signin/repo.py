"""Sign-in codes and console sessions in the database."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from webhook.signin import tokens
from webhook.signin.tables import console_sessions as cs
from webhook.signin.tables import sign_in_codes as codes


class CodeCheck(enum.StrEnum):
    """The outcome of checking a code: the API turns each into its answer."""

    OK = "ok"
    WRONG = "wrong"  # attempts left
    EXHAUSTED = "exhausted"  # the last attempt was wrong: the code is void
    EXPIRED = "expired"
    NONE = "none"  # no code for this login (never requested, used, or deleted)


@dataclass(frozen=True)
class CodeResult:
    check: CodeCheck
    person: str | None = None
    attempts_left: int = 0


@dataclass(frozen=True)
class SessionRow:
    person: str
    csrf: str
    method: str
    created_at: datetime
    expires_at: datetime
    last_seen: datetime


def store_code(conn: Connection, login: str, person: str | None, code_hash: bytes, salt: bytes, now: datetime,
               expires_at: datetime) -> None:
    """The login's one pending code; a new request replaces the previous code (and its attempt count)."""
    conn.execute(delete(codes).where(codes.c.login == login))
    conn.execute(insert(codes).values(login=login, person=person, code_hash=code_hash, salt=salt, created_at=now,
                                      expires_at=expires_at, attempts=0))


def check_code(conn: Connection, login: str, code: str, now: datetime, max_attempts: int) -> CodeResult:
    """Count the attempt and compare; a matching code is used up, so is the last wrong attempt."""
    query = select(codes).where(codes.c.login == login)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()  # two replicas checking guesses at once count both
    row = conn.execute(query).first()
    if row is None:
        return CodeResult(CodeCheck.NONE)
    if row.expires_at <= now:
        conn.execute(delete(codes).where(codes.c.login == login))
        return CodeResult(CodeCheck.EXPIRED)
    if row.person is not None and tokens.code_matches(code, row.salt, row.code_hash):
        conn.execute(delete(codes).where(codes.c.login == login))
        return CodeResult(CodeCheck.OK, row.person)
    attempts = row.attempts + 1
    if attempts >= max_attempts:
        conn.execute(delete(codes).where(codes.c.login == login))
        return CodeResult(CodeCheck.EXHAUSTED)
    conn.execute(update(codes).where(codes.c.login == login).values(attempts=attempts))
    return CodeResult(CodeCheck.WRONG, attempts_left=max_attempts - attempts)


def create_session(conn: Connection, key: str, person: str, csrf: str, method: str, now: datetime,
                   expires_at: datetime, user_agent: str) -> None:
    conn.execute(insert(cs).values(id_hash=key, person=person, csrf=csrf, method=method, created_at=now,
                                   expires_at=expires_at, last_seen=now, user_agent=user_agent[:256]))


def get_session(conn: Connection, key: str, now: datetime) -> SessionRow | None:
    """The live session with this key, None when there is none or it expired (read only: expired rows are
    deleted by `touch` and by retention)."""
    row = conn.execute(select(cs).where(cs.c.id_hash == key)).first()
    if row is None or row.expires_at <= now:
        return None
    return SessionRow(row.person, row.csrf, row.method, row.created_at, row.expires_at, row.last_seen)


def touch(conn: Connection, key: str, now: datetime) -> None:
    """Record use of a session (last_seen); deletes it when it has expired."""
    conn.execute(delete(cs).where(cs.c.id_hash == key, cs.c.expires_at <= now))
    conn.execute(update(cs).where(cs.c.id_hash == key).values(last_seen=now))


def end_session(conn: Connection, key: str) -> bool:
    return bool(conn.execute(delete(cs).where(cs.c.id_hash == key)).rowcount)


def purge(conn: Connection, now: datetime) -> int:
    """Delete expired codes and sessions (retention runs this hourly)."""
    n = conn.execute(delete(codes).where(codes.c.expires_at <= now)).rowcount
    return int(n + conn.execute(delete(cs).where(cs.c.expires_at <= now)).rowcount)
