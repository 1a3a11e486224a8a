"""The outbox drain: per-channel lanes with a bounded width, claim order per incident, two replicas on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.support.clock import FakeClock
from tests.support.escalation_env import esc_config
from tests.support.harness import start_harness
from tests.support.payloads import alert, payload
from webhook.escalation.policy import idem
from webhook.notifiers import Channel, DeliveryResult, Message, outbox_repo

WAIT = 30.0  # an upper bound for a condition that holds at once when the code is right; never a pacing sleep


class Gate:
    """A notifier that records how many calls are in flight and, while closed, holds every call."""

    def __init__(self, inner: Any, closed: bool) -> None:
        self.inner, self.in_flight, self.peak, self.done = inner, 0, 0, 0
        self.opened = asyncio.Event()
        self.changed = asyncio.Event()
        if not closed:
            self.opened.set()

    async def notify(self, msg: Message) -> DeliveryResult:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        self.changed.set()
        try:
            await self.opened.wait()
            result: DeliveryResult = await self.inner.notify(msg)
            return result
        finally:
            self.in_flight -= 1
            self.done += 1
            self.changed.set()

    async def until(self, attr: str, value: int) -> None:
        async def wait() -> None:
            while getattr(self, attr) != value:
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(wait(), WAIT)


async def test_a_held_channel_keeps_its_width_and_does_not_hold_back_the_others(
        db_url: str, tmp_path: Path, fake_slack, fake_twilio, fake_pagerduty) -> None:
    cfg = esc_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty,
                     noise={"storm_threshold": 0, "sms_per_hour": 100},
                     delivery={"concurrency": 2, "batch": 3})
    async for h in start_harness(cfg, FakeClock()):
        worker = h.app.state.svc.workers[-1]
        notifiers = worker.outbox._notifiers
        gates = {ch: Gate(notifiers[ch], closed=ch is Channel.SLACK)
                 for ch in (Channel.SLACK, Channel.SMS, Channel.PAGERDUTY)}
        notifiers.update(gates)
        await h.post_webhook(payload(*(alert(alertname=f"A{i}") for i in range(7))))
        assert await worker.fire() == 7
        drain = asyncio.create_task(worker.outbox.drain())
        # Slack hangs with exactly its width in flight while SMS and PagerDuty get all 7 out
        await gates[Channel.SLACK].until("in_flight", 2)
        await gates[Channel.SMS].until("done", 7)
        await gates[Channel.PAGERDUTY].until("done", 7)
        assert gates[Channel.SLACK].in_flight == 2 and gates[Channel.SLACK].done == 0
        gates[Channel.SLACK].opened.set()
        assert await asyncio.wait_for(drain, WAIT) == 21
        assert {ch.value: g.peak for ch, g in gates.items()} == {"slack": 2, "sms": 2, "pagerduty": 2}
        assert len(fake_slack.top_level()) == 7 and len(fake_twilio.messages) == 7
        assert len(fake_pagerduty.alerts) == 7
        rows = await h.app.state.svc.db.read(
            lambda c: c.execute(text("SELECT status, attempts, claimed_by FROM deliveries")).all())
        assert Counter(tuple(r) for r in rows) == {("delivered", 1, None): 21}
        events = await h.app.state.svc.db.read(lambda c: c.execute(
            text("SELECT count(*) FROM incident_events WHERE kind = 'delivery'")).scalar_one())
        assert events == 21  # every attempt on its incident's timeline


async def test_deliveries_to_one_incident_and_channel_go_out_in_order_and_update_one_message(
        db_url: str, tmp_path: Path, fake_slack, fake_twilio, fake_pagerduty) -> None:
    cfg = esc_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty, delivery={"concurrency": 8})
    clock = FakeClock()
    async for h in start_harness(cfg, clock):
        svc = h.app.state.svc
        await h.post_webhook(payload(alert(severity="high")))
        iid = 1
        now = clock()
        rows = [outbox_repo.delivery_row(idem(iid, "t", n, "slack", "#ops"), iid, None, n, kind, "slack",
                                             "#ops", None, "en", "high", now, note)
                for n, kind, note in ((0, "trigger", None), (1, "update", "first"), (2, "update", "second"))]
        await svc.db.write(outbox_repo.insert_deliveries, rows)
        assert await svc.workers[-1].outbox.drain() == 3
    assert len(fake_slack.top_level()) == 1  # the updates waited for the post and updated it
    assert len(fake_slack.calls("chat.update")) == 2
    assert fake_slack.violations == []


@pytest.mark.postgres
async def test_two_replicas_draining_at_once_send_every_delivery_once(
        fresh_pg_url: str, tmp_path: Path, fake_slack, fake_twilio, fake_pagerduty) -> None:
    cfg = esc_config(fresh_pg_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty,
                     noise={"storm_threshold": 0, "sms_per_hour": 100},
                     delivery={"concurrency": 3, "batch": 4})
    clock = FakeClock()
    async for a in start_harness(cfg, clock):
        async for b in start_harness(cfg, clock):
            await a.post_webhook(payload(*(alert(alertname=f"A{i}") for i in range(25))))
            assert await a.app.state.svc.workers[-1].fire() == 25
            sent = await asyncio.gather(a.app.state.svc.workers[-1].outbox.drain(),
                                        b.app.state.svc.workers[-1].outbox.drain())
            assert sum(sent) == 75
    assert len(fake_slack.top_level()) == 25 and len(fake_twilio.messages) == 25
    assert len(fake_pagerduty.alerts) == 25
    assert all(len(a.events) == 1 for a in fake_pagerduty.alerts.values())
    engine = create_engine(fresh_pg_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT max(attempts), count(*) FROM deliveries")).one() == (1, 75)
        assert conn.execute(text("SELECT count(*) FROM deliveries WHERE status = 'delivered'")).scalar_one() == 75
        assert conn.execute(text("SELECT count(*) FROM incident_events WHERE kind = 'delivery'")).scalar_one() == 75
    engine.dispose()
