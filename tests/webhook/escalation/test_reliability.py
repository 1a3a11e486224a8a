"""Vendors down, restarts, crashed claims and config edits lose nothing and repeat nothing."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path

from tests.support.clock import FakeClock
from tests.support.escalation_env import ALICE, BOB, CAROL, POLICIES, Env, esc_config, run
from tests.support.harness import start_harness
from tests.support.payloads import alert, payload
from webhook import metrics
from webhook.escalation import repo as escalation_repo
from webhook.notifiers import outbox_repo


def attempts(timeline: list[dict], channel: str) -> list[dict]:
    return [e for e in timeline if e["kind"] == "delivery" and e["detail"]["channel"] == channel]


async def test_slack_down_for_10_minutes_then_everything_is_delivered_once(env: Env) -> None:
    retries_before = metrics.DELIVERIES.labels("slack", "retry")._value.get()
    for _ in range(60):  # every Slack call fails: 500s and 429 with Retry-After, alternating
        env.slack.fail_next(1, 500)
        env.slack.rate_limit_next(1, retry_after=90)
    await env.h.post_webhook(payload(*(alert(alertname=f"A{i}") for i in range(3))))
    await run(env.h, minutes=10)
    assert env.slack.top_level() == [] and len(env.slack.requests) >= 3 * 4
    # other channels were not held up: each incident climbed to step 3 (SMS to alice, bob, carol; a call)
    assert (len(env.twilio.messages), len(env.twilio.calls), len(env.pd.alerts)) == (9, 3, 3)
    assert env.slack.violations == []
    during = (await env.h.client.get("/metrics")).text
    assert 'tocsin_outbox_pending{channel="slack"} 3.0' in during  # waiting for their next attempt
    env.slack.reset()  # Slack is back
    await run(env.h, minutes=10)
    assert sorted(m.text.split()[1] for m in env.slack.top_level()) == ["T-1", "T-2", "T-3"]
    assert env.slack.calls("chat.update") == []
    timeline = (await env.incident(1))["timeline"]
    tries = attempts(timeline, "slack")
    assert [t["detail"]["outcome"] for t in tries][-1] == "delivered"
    assert {t["detail"]["outcome"] for t in tries[:-1]} == {"retry"}
    for before, after in itertools.pairwise(tries):  # Retry-After: 90 is honoured
        if before["detail"].get("error") == "ratelimited":
            gap = datetime.fromisoformat(after["at"]) - datetime.fromisoformat(before["at"])
            assert gap.total_seconds() >= 90
    assert metrics.DELIVERIES.labels("slack", "retry")._value.get() > retries_before
    text = (await env.h.client.get("/metrics")).text
    assert 'tocsin_deliveries_total{channel="slack",outcome="delivered"}' in text
    assert "tocsin_escalation_backlog 0.0" in text


async def test_restart_mid_escalation_loses_and_repeats_nothing(db_url: str, tmp_path: Path, fake_slack, fake_twilio,
                                                                 fake_pagerduty) -> None:
    cfg = esc_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty)
    clock = FakeClock()
    async for h in start_harness(cfg, clock):
        await h.post_webhook(payload(alert()))
        await run(h, minutes=3)  # step 1 sent
        assert (len(fake_slack.top_level()), len(fake_twilio.messages)) == (1, 1)
    clock.advance(minutes=9)  # down while steps 2 (5 min) and 3 (10 min) fall due
    async for h in start_harness(cfg, clock):
        await run(h)
        assert [c.to for c in fake_twilio.calls] == [ALICE]
        assert sorted(m.to for m in fake_twilio.messages) == sorted([ALICE, BOB, CAROL])
        await run(h, minutes=10)
    assert len(fake_twilio.calls) == 1 and len(fake_twilio.messages) == 3 and len(fake_slack.top_level()) == 1
    assert len(fake_pagerduty.alerts) == 1


async def test_a_claim_lost_in_a_crash_is_sent_once_after_its_lease(db_url: str, tmp_path: Path, fake_slack,
                                                                    fake_twilio, fake_pagerduty) -> None:
    cfg = esc_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty)
    clock = FakeClock()
    async for h in start_harness(cfg, clock):
        svc = h.app.state.svc
        await h.post_webhook(payload(alert()))
        await svc.db.write(svc.workers[0].escalation.fire_due, clock(), 10)
        claimed = await svc.db.write(outbox_repo.claim, clock(), "crashed-replica", cfg.escalation.delivery.lease, 10,
                                     escalation_repo.group_members)
        assert len(claimed) == 3  # ...and the process dies before it sends or records anything
    async for h in start_harness(cfg, clock):
        await run(h, minutes=0.5)
        assert fake_slack.requests == [] and fake_twilio.messages == []  # still leased to the dead replica
        await run(h, minutes=2)
        assert (len(fake_slack.top_level()), len(fake_twilio.messages), len(fake_pagerduty.alerts)) == (1, 1, 1)


async def test_policy_snapshot_is_not_changed_by_a_config_edit(db_url: str, tmp_path: Path, fake_slack, fake_twilio,
                                                               fake_pagerduty) -> None:
    cfg = esc_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty)
    edited = [dict(p) for p in POLICIES]
    edited[0] = {"name": "critical", "steps": [{"targets": [{"slack": "#ops"}]},
                                               {"after": "5m", "targets": [{"user": "bob", "via": ["voice"]}]}]}
    clock = FakeClock()
    async for h in start_harness(cfg, clock):
        await h.post_webhook(payload(alert(alertname="Old")))
        await run(h)
    new_cfg = esc_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty, policies=edited)
    async for h in start_harness(new_cfg, clock):
        await h.post_webhook(payload(alert(alertname="New")))
        await run(h, minutes=6)
    assert sorted(c.to for c in fake_twilio.calls) == [ALICE, BOB]  # old incident: old step 2; new one: new step 2


async def test_permanent_failure_of_a_critical_page_falls_back_to_the_next_channel(env: Env) -> None:
    env.twilio.error_next(21211, "The 'To' number is not a valid phone number.")
    iid = await env.page()
    await run(env.h, minutes=1)  # before step 2: the call is the fallback for the failed SMS
    assert env.twilio.messages == [] and [c.to for c in env.twilio.calls] == [ALICE]
    sms = attempts((await env.incident(iid))["timeline"], "sms")
    assert sms[0]["detail"]["outcome"] == "failed" and "21211" in sms[0]["detail"]["error"]
