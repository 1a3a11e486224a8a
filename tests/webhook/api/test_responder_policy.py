"""One responder policy for every callback channel (issue 10, point 2): `channels.responder_policy`.

Before, a signed Slack click by any workspace member acknowledged an incident while an SMS from an unknown
number was refused. Now only mapped responders act unless `any_slack_user` lets any signed Slack user act
(SMS and calls stay responders-only); every refusal is answered and written on the incident's timeline.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.fakekube import FakeKube
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.prometheus import FakePrometheus
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio
from tests.support.clock import FakeClock
from tests.support.escalation_env import (
    ALICE,
    SIGNING_SECRET,
    TOCSIN_NUMBER,
    Env,
    esc_config,
    run,
    slack_click,
    twilio_post,
)
from tests.support.harness import start_harness
from tests.support.remediation_escalated import config as escalated_config
from tests.support.remediation_escalated import open_critical, pages
from tests.support.remediation_escalated import start as start_escalated
from webhook.config import TocsinConfig

POLICIES = ["responders", "any_slack_user"]
STRANGER_PHONE = "+19995550100"


def with_policy(cfg: TocsinConfig, policy: str | None) -> TocsinConfig:
    """The config with `channels.responder_policy` set (None: left at its default)."""
    if policy is None:
        return cfg
    data = cfg.model_dump(mode="python", by_alias=True)
    data["channels"] = {**data["channels"], "responder_policy": policy}
    return TocsinConfig(**data)


async def start(db_url: str, tmp_path: Path, slack: FakeSlack, twilio: FakeTwilio, pd: FakePagerDuty,
                policy: str | None) -> AsyncIterator[Env]:
    cfg = with_policy(esc_config(db_url, tmp_path, slack, twilio, pd), policy)
    async for h in start_harness(cfg, FakeClock()):
        yield Env(h, slack, twilio, pd)


async def refusals(env: Env, iid: int) -> list[dict[str, Any]]:
    return [e["detail"] for e in (await env.incident(iid))["timeline"] if e["kind"] == "action_refused"]


async def click(env: Env, iid: int, user: str, action: str = "tocsin_ack") -> dict[str, Any]:
    body, headers = slack_click(env.h, iid, action=action, user=user)
    r = await env.h.client.post("/slack/interactions", content=body, headers=headers)
    assert r.status_code == 200
    return r.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("policy", [None, "responders"])  # None: the default
async def test_a_slack_click_by_a_member_who_is_no_responder_is_refused_by_default(
        db_url: str, tmp_path: Path, fake_slack, fake_twilio, fake_pagerduty, policy: str | None) -> None:
    async for env in start(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty, policy):
        iid = await env.page()
        for action in ("tocsin_ack", "tocsin_resolve", "tocsin_snooze_1h"):
            answer = await click(env, iid, "U0STRANGER", action)
            assert answer["text"].startswith(f"T-{iid}: not changed: you may not ")
            assert "not mapped to a Tocsin responder" in answer["text"]
        incident = await env.incident(iid)
        assert incident["state"] == "triggered" and incident["acked_by"] is None
        assert [(r["action"], r["channel"], r["from"]) for r in await refusals(env, iid)] == [
            ("ack", "slack", "slack:U0STRANGER"), ("resolve", "slack", "slack:U0STRANGER"),
            ("snooze", "slack", "slack:U0STRANGER")]
        assert (await click(env, iid, "U0ALICE"))["text"] == f"T-{iid}: acknowledged"
        assert (await env.incident(iid))["acked_by"] == "alice"


async def test_any_slack_user_lets_a_signed_member_act_as_who_slack_says_they_are(
        db_url: str, tmp_path: Path, fake_slack, fake_twilio, fake_pagerduty) -> None:
    async for env in start(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty, "any_slack_user"):
        iid = await env.page()
        assert (await click(env, iid, "U0STRANGER"))["text"] == f"T-{iid}: acknowledged"
        incident = await env.incident(iid)
        assert incident["acked_by"] == "slack:U0STRANGER" and await refusals(env, iid) == []


@pytest.mark.parametrize("policy", POLICIES)
async def test_sms_and_calls_act_only_for_responders_under_either_policy(
        db_url: str, tmp_path: Path, fake_slack, fake_twilio, fake_pagerduty, policy: str) -> None:
    async for env in start(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty, policy):
        iid = await env.page()
        post = env.h.client.post
        path, body, headers = twilio_post("/twilio/sms", {"From": STRANGER_PHONE, "Body": f"ACK T-{iid}"})
        r = await post(path, content=body, headers=headers)
        assert r.status_code == 200 and f"T-{iid}: not changed, this number is not a Tocsin responder." in r.text
        digits = {"From": TOCSIN_NUMBER, "To": STRANGER_PHONE, "Digits": "2"}
        path, body, headers = twilio_post("/twilio/voice", digits, query=f"incident={iid}")
        r = await post(path, content=body, headers=headers)
        assert r.status_code == 200 and "This phone number may not act on incidents" in r.text
        assert (await env.incident(iid))["state"] == "triggered"
        assert [(r["action"], r["channel"], r["from"]) for r in await refusals(env, iid)] == [
            ("ack", "sms", STRANGER_PHONE), ("resolve", "voice", STRANGER_PHONE)]
        path, body, headers = twilio_post("/twilio/sms", {"From": ALICE, "Body": f"ACK T-{iid}"})
        assert f"T-{iid}: acknowledged" in (await post(path, content=body, headers=headers)).text
        await run(env.h)


def approval_click(now: float, value: str, user: str) -> tuple[bytes, dict[str, str]]:
    """A signed click on the Approve button of run step `value` ("<run id>:<step>")."""
    payload = {"type": "block_actions", "user": {"id": user},
               "actions": [{"action_id": "tocsin_run_approve", "value": value}]}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(int(now))
    sig = hmac.new(SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return body, {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + sig,
                  "Content-Type": "application/x-www-form-urlencoded"}


def _buttons(msg: Any) -> dict[str, str]:
    return {e["action_id"]: e["value"] for b in msg.blocks if b["type"] == "actions" for e in b["elements"]}


@pytest.mark.parametrize(("policy", "approvers", "answer"), [
    ("responders", [], "You may not approve runbook steps: your Slack user is not mapped to a responder."),
    ("any_slack_user", [], "approved by slack:U0NOBODY."),
    ("any_slack_user", ["alice"], "You may not approve runbook steps: slack:U0NOBODY is not an approver."),
])
async def test_approval_buttons_follow_the_same_policy(
        db_url: str, tmp_path: Path, fake_slack: FakeSlack, fake_twilio: FakeTwilio, fake_pagerduty: FakePagerDuty,
        kube: FakeKube, clock: FakeClock, fake_prometheus: FakePrometheus, policy: str, approvers: list[str],
        answer: str) -> None:
    cfg = with_policy(escalated_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty, kube,
                                       fake_prometheus, approvals={"responders": approvers}), policy)
    async for env in start_escalated(cfg, clock, fake_slack, fake_twilio, fake_pagerduty, kube, fake_prometheus):
        iid = await open_critical(env, "AskMe")
        await run(env.h)
        await env.settle()  # the run waits at its approval step
        assert pages(env)["slack"] == 1
        [request] = [m for m in env.slack.top_level() if _buttons(m)]
        body, headers = approval_click(env.h.clock().timestamp(), _buttons(request)["tocsin_run_approve"], "U0NOBODY")
        r = await env.h.client.post("/slack/interactions", content=body, headers=headers)
        assert r.status_code == 200 and r.json()["text"].endswith(answer)
        refused = [e["detail"] for e in (await env.incident(iid))["timeline"]
                   if e["kind"] == "remediation_approval_refused"]
        assert len(refused) == (0 if answer.startswith("approved") else 1)
