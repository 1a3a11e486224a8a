"""PostgreSQL pool: a connection idle longer than PING_AFTER_IDLE is pinged before use and replaced if its
session is gone (a failover, a restart); a connection in constant use is not pinged (a round trip saved)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from webhook.store import db as dbmod
from webhook.store.db import make_engine


def _kill(url: str, pid: int) -> None:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
    admin.dispose()


def _pid(engine: object) -> int:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_an_idle_connection_whose_session_ended_is_replaced(fresh_pg_url: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dbmod, "PING_AFTER_IDLE", 0.0)  # every pooled connection counts as idle
    engine = make_engine(fresh_pg_url, pool_size=1)
    try:
        old = _pid(engine)
        _kill(fresh_pg_url, old)
        assert _pid(engine) != old  # the ping failed, the pool opened a new session; no error reached us
    finally:
        engine.dispose()


def test_a_busy_connection_is_not_pinged_and_a_dead_one_fails_once(fresh_pg_url: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dbmod, "PING_AFTER_IDLE", 3600.0)
    engine = make_engine(fresh_pg_url, pool_size=1)
    try:
        old = _pid(engine)
        assert _pid(engine) == old  # the same session, reused without a ping
        _kill(fresh_pg_url, old)
        with pytest.raises(OperationalError):  # its transaction fails (the webhook gets 503 and is retried)
            _pid(engine)
        assert _pid(engine) != old  # SQLAlchemy discarded the dead connection; the next one is new
    finally:
        engine.dispose()
