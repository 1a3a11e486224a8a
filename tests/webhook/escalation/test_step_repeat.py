"""A step with its own repeat count notifies its targets again until acknowledged, while later steps follow."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio
from tests.support.clock import FakeClock
from tests.support.escalation_env import ALICE, BOB, POLICIES, Env, esc_config, run
from tests.support.harness import start_harness
from webhook.config.escalation import Policy
from webhook.escalation.policy import firings, next_position

REPEATING = {"name": "critical", "steps": [
    {"after": "0m", "repeat": 2, "repeat_every": "3m", "targets": [{"schedule": "primary", "via": ["sms"]}]},
    {"after": "5m", "targets": [{"schedule": "secondary", "via": ["sms"]}]},
]}


def test_firings_interleave_repetitions_with_later_steps() -> None:
    policy = Policy.model_validate(REPEATING)
    assert firings(policy) == [(0, 0), (0, 1), (1, 0), (0, 2)]  # 0m, 3m, 5m, 6m
    assert next_position(policy, 1, 0, 0) == (0, 0, 2)
    assert next_position(policy, 0, 0, 2) is None


def test_policy_repeat_must_outlast_the_last_step_repetition() -> None:
    with pytest.raises(ValueError, match="last repetition"):
        Policy.model_validate({**REPEATING, "repeat": 1, "repeat_every": "5m"})


@pytest.fixture
async def repeat_env(db_url: str, tmp_path: Path, fake_slack: FakeSlack, fake_twilio: FakeTwilio,
                     fake_pagerduty: FakePagerDuty):
    policies = [REPEATING, *[p for p in POLICIES if p["name"] != "critical"]]
    cfg = esc_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty, policies=policies)
    async for h in start_harness(cfg, FakeClock()):
        yield Env(h, fake_slack, fake_twilio, fake_pagerduty)


async def test_step_repeats_until_acknowledged(repeat_env: Env) -> None:
    env = repeat_env
    iid = await env.page()
    await run(env.h, minutes=4)  # 0m and 3m: the primary is texted twice
    assert [m.to for m in env.twilio.messages] == [ALICE, ALICE]
    await run(env.h, minutes=1.5)  # 5m: the secondary joins
    assert [m.to for m in env.twilio.messages] == [ALICE, ALICE, BOB]
    assert (await env.h.api("POST", f"/api/v1/incidents/{iid}/ack")).json()["changed"] is True
    await run(env.h, minutes=30)  # the third text to the primary (6m) never goes out
    assert [m.to for m in env.twilio.messages if "ACK" in (m.body or "")] == [ALICE, ALICE, BOB]
    timeline = (await env.incident(iid))["timeline"]
    fired = [(e["detail"]["step"], e["detail"]["repeat"]) for e in timeline if e["kind"] == "escalation_step"]
    assert fired == [(1, 0), (1, 1), (2, 0)]
