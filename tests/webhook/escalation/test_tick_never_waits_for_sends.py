"""The periodic tick keeps time while a vendor holds a send (review finding 8).

The tick fires due steps (and wakes snoozed incidents, resolves quiet flapping ones, claims remediation
requests); it must never wait for the outbox, which may be stuck behind a slow vendor for the whole send timeout.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from tests.support.clock import FakeClock
from tests.support.escalation_env import ALICE, esc_config
from tests.support.escalation_env import POLICIES as DEFAULT_POLICIES
from tests.support.harness import start_harness
from tests.support.payloads import alert, payload
from webhook.app import tick
from webhook.escalation.worker import EscalationWorker
from webhook.notifiers import Channel, DeliveryResult, Message, Notifier

#: An upper bound for something that happens at once when the code is right; never a pacing sleep.
WAIT = 30.0
POLICIES = [{"name": "critical", "steps": [
    {"targets": [{"schedule": "primary", "via": ["sms"]}]},
    {"after": "30s", "targets": [{"schedule": "primary", "via": ["voice"]}]},
]}, *DEFAULT_POLICIES[1:]]


class HeldVendor:
    """Every call waits until the test releases it, as a vendor taking up to the send timeout would."""

    def __init__(self, inner: Notifier) -> None:
        self.inner = inner
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def notify(self, msg: Message) -> DeliveryResult:
        self.entered.set()
        await self.release.wait()
        return await self.inner.notify(msg)


class Watched:
    """Passes calls through and says when one has gone out."""

    def __init__(self, inner: Notifier) -> None:
        self.inner = inner
        self.done = asyncio.Event()

    async def notify(self, msg: Message) -> DeliveryResult:
        result = await self.inner.notify(msg)
        self.done.set()
        return result


async def test_step_2_fires_on_the_next_tick_while_step_1s_sms_is_held_by_the_vendor(
        db_url: str, tmp_path: Path, fake_slack, fake_twilio, fake_pagerduty) -> None:
    # step 1 texts alice, step 2 calls her 30 s later (a vendor may hold a send for up to 60 s)
    cfg = esc_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty, policies=POLICIES)
    clock = FakeClock()
    async for h in start_harness(cfg, clock):
        svc = h.app.state.svc
        worker = svc.workers[-1]
        assert isinstance(worker, EscalationWorker)
        notifiers = worker.outbox._notifiers
        held, call = HeldVendor(notifiers[Channel.SMS]), Watched(notifiers[Channel.VOICE])
        notifiers[Channel.SMS], notifiers[Channel.VOICE] = held, call
        await h.post_webhook(payload(alert()))

        await asyncio.wait_for(tick(svc), WAIT)  # step 1 fires; its SMS is handed to the vendor, which holds it
        await asyncio.wait_for(held.entered.wait(), WAIT)
        clock.advance(seconds=30)
        await asyncio.wait_for(tick(svc), WAIT)  # before the fix this tick waited for the held SMS

        steps = await svc.db.read(lambda c: c.execute(
            text("SELECT step_index, state FROM escalation_steps ORDER BY seq")).all())
        assert [tuple(s) for s in steps[:2]] == [(0, "fired"), (1, "fired")]
        await asyncio.wait_for(call.done.wait(), WAIT)  # and the call went out beside the held SMS
        assert [c.to for c in fake_twilio.calls] == [ALICE] and fake_twilio.messages == []
        assert not held.release.is_set()

        held.release.set()
        await asyncio.wait_for(worker.sent(), WAIT)
        assert [m.to for m in fake_twilio.messages] == [ALICE]
        states = await svc.db.read(lambda c: c.execute(
            text("SELECT channel, status FROM deliveries ORDER BY id")).all())
        assert [tuple(s) for s in states] == [("sms", "delivered"), ("voice", "delivered")]
