"""A claimed delivery is sent once: its drain never lets the claim run out under a send (review finding 9).

The review's reproduction (lease 1 s, width 2, four deliveries, every call 0.6 s, pokes every 0.1 s) sent two of
four e-mails twice. Here the same interleaving is made exact: the vendor finishes a call when the test says so,
the fake clock stands for the time the calls took, and the poke comes after the old lease ran out.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from tests.support.clock import FakeClock
from tests.support.escalation_env import esc_config
from tests.support.harness import Harness, start_harness
from tests.support.payloads import alert, payload
from webhook.config.escalation import DeliveryConfig
from webhook.escalation import repo as escalation_repo
from webhook.escalation.policy import idem
from webhook.escalation.worker import EscalationWorker
from webhook.notifiers import Channel, Delivered, DeliveryResult, Message, outbox_repo
from webhook.notifiers.tables import deliveries

WAIT = 30.0  # an upper bound for a condition that holds at once when the code is right; never a pacing sleep
NUMBERS = [f"+49151000009{n:02d}" for n in range(4)]


class Vendor:
    """A vendor whose calls end when the test finishes them (or at once once `auto` is set)."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()
        self.waiting: list[asyncio.Event] = []
        self.changed = asyncio.Event()
        self.auto = False

    async def notify(self, msg: Message) -> DeliveryResult:
        self.sent[msg.target.address] += 1
        if not self.auto:
            done = asyncio.Event()
            self.waiting.append(done)
            self.changed.set()
            await done.wait()
        return Delivered(f"SM{sum(self.sent.values())}")

    async def in_flight(self, n: int) -> None:
        async def wait() -> None:
            while len(self.waiting) != n:
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(wait(), WAIT)

    def finish(self) -> None:
        for done in self.waiting:
            done.set()
        self.waiting.clear()


class Claims:
    """Counts the outbox's claim transactions (they run on the database thread) and lets the test await one."""

    def __init__(self, claim: Callable[..., list[outbox_repo.Job]]) -> None:
        self._claim, self.count = claim, 0
        self._loop = asyncio.get_running_loop()
        self.changed = asyncio.Event()

    def __call__(self, *args: Any) -> list[outbox_repo.Job]:
        jobs = self._claim(*args)
        self._loop.call_soon_threadsafe(self._counted)
        return jobs

    def _counted(self) -> None:
        self.count += 1
        self.changed.set()

    async def after(self, seen: int) -> None:
        async def wait() -> None:
            while self.count <= seen:
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(wait(), WAIT)


async def _start(h: Harness, n: int) -> tuple[EscalationWorker, Vendor]:
    """One incident (no step fired) and `n` SMS deliveries about it to different numbers, due now."""
    svc = h.app.state.svc
    await h.post_webhook(payload(alert()))
    rows = [outbox_repo.delivery_row(idem("lease", i), 1, None, i, "trigger", "sms", NUMBERS[i], None, "en",
                                     "critical", h.clock()) for i in range(n)]
    await svc.db.write(outbox_repo.insert_deliveries, rows)
    worker = svc.workers[-1]
    assert isinstance(worker, EscalationWorker)
    vendor = Vendor()
    worker.outbox._notifiers[Channel.SMS] = vendor
    return worker, vendor


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


async def _rows(h: Harness) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await h.app.state.svc.db.read(lambda c: c.execute(
        text("SELECT address, status, attempts FROM deliveries ORDER BY id")).all())]


async def test_a_queued_delivery_is_not_claimed_again_while_its_drain_holds_it(
        db_url: str, tmp_path: Path, fake_slack, fake_twilio, fake_pagerduty, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = esc_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty, delivery={"concurrency": 2, "batch": 4})
    clock = FakeClock()
    async for h in start_harness(cfg, clock):
        worker, vendor = await _start(h, 4)
        claims = Claims(outbox_repo.claim)
        monkeypatch.setattr(outbox_repo, "claim", claims)
        drain = asyncio.create_task(worker.outbox.drain())
        await vendor.in_flight(2)  # the first two are with the vendor, the other two wait in the lane
        clock.advance(seconds=50)  # a slow vendor: each call takes 50 s (the send timeout is 60 s)
        vendor.finish()
        await vendor.in_flight(2)  # the queued two start 50 s into their claim
        clock.advance(seconds=30)  # 80 s after the claim: longer than the old 60 s lease, shorter than the calls'
        seen = claims.count
        worker.outbox.poke()  # new work was written meanwhile: the drain claims again
        await claims.after(seen)
        vendor.auto = True
        vendor.finish()
        await asyncio.wait_for(drain, WAIT)

        assert vendor.sent == Counter({n: 1 for n in NUMBERS})  # each once; before the fix the last two twice
        assert await _rows(h) == [(n, "delivered", 1) for n in NUMBERS]


async def test_a_late_start_renews_the_claim_for_a_whole_lease(
        db_url: str, tmp_path: Path, fake_slack, fake_twilio, fake_pagerduty) -> None:
    cfg = esc_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty, delivery={"concurrency": 1, "batch": 2})
    lease = cfg.escalation.delivery.lease
    clock = FakeClock()
    async for h in start_harness(cfg, clock):
        worker, vendor = await _start(h, 2)
        drain = asyncio.create_task(worker.outbox.drain())
        await vendor.in_flight(1)
        clock.advance(seconds=50)
        vendor.finish()
        await vendor.in_flight(1)  # the second starts with 70 s of its lease left: less than a send may take
        until = await h.app.state.svc.db.read(lambda c: c.execute(
            select(deliveries.c.claimed_until).where(deliveries.c.address == NUMBERS[1])).scalar_one())
        assert _utc(until) == clock() + lease
        vendor.auto = True
        vendor.finish()
        assert await asyncio.wait_for(drain, WAIT) == 2
        assert vendor.sent == Counter({NUMBERS[0]: 1, NUMBERS[1]: 1})


async def test_a_job_whose_claim_ran_out_in_the_queue_is_not_sent(
        db_url: str, tmp_path: Path, fake_slack, fake_twilio, fake_pagerduty) -> None:
    cfg = esc_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty, delivery={"concurrency": 1, "batch": 2})
    lease = cfg.escalation.delivery.lease
    clock = FakeClock()
    async for h in start_harness(cfg, clock):
        svc = h.app.state.svc
        worker, vendor = await _start(h, 2)
        drain = asyncio.create_task(worker.outbox.drain())
        await vendor.in_flight(1)
        clock.advance(seconds=lease.total_seconds() + 10)  # the process stalled (suspended VM, stopped container)
        taken = await svc.db.write(outbox_repo.claim, clock(), "replica-2", lease, 10, escalation_repo.group_members)
        assert sorted(j.row["address"] for j in taken) == NUMBERS[:2]  # the other replica took both over
        vendor.auto = True
        vendor.finish()
        await asyncio.wait_for(drain, WAIT)
        assert vendor.sent == Counter({NUMBERS[0]: 1})  # the queued one is left to the replica that holds it now
        claimed_by = await svc.db.read(lambda c: c.execute(
            text("SELECT claimed_by FROM deliveries WHERE address = :a"), {"a": NUMBERS[1]}).scalar_one())
        assert claimed_by == "replica-2"


def test_a_lease_shorter_than_a_send_is_refused() -> None:
    with pytest.raises(ValueError, match=r"delivery\.lease must be at least 90s"):
        DeliveryConfig.model_validate({"lease": "60s"})
