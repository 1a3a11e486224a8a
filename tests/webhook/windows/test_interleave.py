"""A window created at the exact moment a step fires never loses the page: on SQLite the creation waits for the
step's transaction (the page was written before), on PostgreSQL it commits inside it and the step, reading the
windows after its claim, is held and pages at the window's end. Deterministic: a second, impatient handle on the
same database tries to commit right after the step transaction's first SELECT."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from tests.support.escalation_env import Env, run
from tests.support.interleave import after_first_select, impatient
from tests.webhook.windows.test_escalation import NONE, ONCE, pages
from webhook.escalation.worker import EscalationWorker
from webhook.store.db import StorageUnavailable
from webhook.windows import ops
from webhook.windows.spec import build


async def test_a_window_created_while_a_step_fires_never_loses_the_page(env: Env, db_url: str) -> None:
    svc = env.h.app.state.svc
    worker = next(w for w in svc.workers if isinstance(w, EscalationWorker))
    iid = await env.page()  # step 1 is due now; nothing fired yet (no tick)
    now = env.h.clock()
    spec = build(['namespace="shop"'], now, duration="1h", comment="raced")
    other = impatient(db_url)
    attempts: list[str] = []

    def create_window() -> None:
        try:
            other.run_write(ops.create, spec, "bob", now)
            attempts.append("committed")
        except StorageUnavailable:
            attempts.append("had to wait")

    def fire(conn: Connection) -> Any:
        after_first_select(conn, create_window)  # right after the claim of the due step
        return worker.escalation.fire_due(conn, now, 10)

    try:
        fired = await svc.db.write(fire)
        if attempts == ["had to wait"]:  # SQLite: one writer; the window is created after the step committed
            assert svc.db.dialect == "sqlite" and len(fired) == 1
            other.run_write(ops.create, spec, "bob", now)
            await run(env.h)
            assert pages(env) == ONCE  # sent before the window
        else:  # PostgreSQL: the window committed inside the step's transaction, which then saw it
            assert attempts == ["committed"] and svc.db.dialect == "postgresql" and fired == []
            await run(env.h, minutes=59.5)
            assert pages(env) == NONE
            await run(env.h, minutes=0.5)
            assert pages(env) == ONCE  # held and sent at the end
    finally:
        other.close()
    steps = [e for e in (await env.incident(iid))["timeline"] if e["kind"] == "escalation_step"]
    assert [e["detail"]["step"] for e in steps] == [1]
    assert env.h.clock() - now <= timedelta(hours=1)
