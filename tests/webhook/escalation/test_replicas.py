"""Two replicas on one PostgreSQL database claim due steps and deliveries without sending anything twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.clock import FakeClock
from tests.support.escalation_env import esc_config, tick_and_send
from tests.support.harness import start_harness
from tests.support.payloads import alert, payload
from webhook.escalation import repo as escalation_repo
from webhook.escalation.service import Escalation
from webhook.notifiers import outbox_repo

pytestmark = pytest.mark.postgres


async def test_two_replicas_ticking_together_send_every_page_once(fresh_pg_url: str, tmp_path: Path, fake_slack,
                                                                 fake_twilio, fake_pagerduty) -> None:
    cfg = esc_config(fresh_pg_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty,
                     noise={"storm_threshold": 0, "sms_per_hour": 100, "voice_per_hour": 100})
    clock = FakeClock()
    async for a in start_harness(cfg, clock):
        async for b in start_harness(cfg, clock):
            await a.post_webhook(payload(*(alert(alertname=f"A{i}") for i in range(30))))
            for _ in range(14):  # 7 minutes: step 1 for all, step 2 (calls) for all
                await asyncio.gather(tick_and_send(a.app.state.svc), tick_and_send(b.app.state.svc))
                clock.advance(seconds=30)
    assert len(fake_slack.top_level()) == 30 and len(fake_pagerduty.alerts) == 30
    assert len(fake_twilio.messages) == 30 and len(fake_twilio.calls) == 30
    engine = create_engine(fresh_pg_url)
    with engine.connect() as conn:
        attempts = conn.execute(text("SELECT max(attempts) FROM deliveries")).scalar_one()
    engine.dispose()
    assert attempts == 1  # no delivery was claimed twice


async def test_concurrent_claims_are_disjoint(fresh_pg_url: str, tmp_path: Path, fake_slack, fake_twilio,
                                              fake_pagerduty) -> None:
    cfg = esc_config(fresh_pg_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty, noise={"storm_threshold": 0})
    clock = FakeClock()
    async for h in start_harness(cfg, clock):
        await h.post_webhook(payload(*(alert(alertname=f"A{i}") for i in range(12))))
    engine = create_engine(fresh_pg_url)
    with engine.begin() as first, engine.begin() as second:  # two replicas' transactions, open at once
        mine = escalation_repo.claim_due_steps(first, clock(), 5)
        theirs = escalation_repo.claim_due_steps(second, clock(), 100)
        assert len(mine) == 5 and len(theirs) == 7
        assert not {s["id"] for s in mine} & {s["id"] for s in theirs}
        assert len(Escalation(cfg, "replica-1").fire_due(first, clock(), 100)) == 5  # its own 5, not theirs
    with engine.begin() as first, engine.begin() as second:
        jobs1 = outbox_repo.claim(first, clock(), "r1", cfg.escalation.delivery.lease, 4, escalation_repo.group_members)
        jobs2 = outbox_repo.claim(second, clock(), "r2", cfg.escalation.delivery.lease, 100,
                                  escalation_repo.group_members)
        assert (len(jobs1), len(jobs2)) == (4, 5 * 3 - 4)  # 5 steps fired, 3 pages each
        assert {j.row["id"] for j in jobs1}.isdisjoint({j.row["id"] for j in jobs2})
    engine.dispose()
