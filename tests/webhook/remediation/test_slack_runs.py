"""Runbook progress in the incident's Slack thread, and Approve / Reject buttons for waiting steps."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlencode

from remediator.events import RunEvent
from tests.fakes.slack import SlackMessage
from tests.support.escalation_env import SIGNING_SECRET, run, slack_click
from tests.support.remediation_escalated import Factory, RemEnv, open_critical, pages


async def test_progress_lines_reach_the_incident_thread_once_and_never_sms(renv: Factory) -> None:
    env = await renv(hold_escalation_for="0s")  # no hold: the page goes out, then the run reports in its thread
    seen: list[RunEvent] = []

    async def record(event: RunEvent) -> None:
        seen.append(event)

    env.rem.listeners.append(record)
    await open_critical(env)
    await run(env.h)
    [message] = env.slack.top_level()
    await env.settle()
    for event in seen:  # a replayed event (a second delivery of the same news) adds nothing
        await env.rem.listeners[0](event)
    await run(env.h, minutes=1)
    # one thread reply per event (the outbox sends a batch concurrently, so their order is not asserted)
    lines = sorted(r.text for r in message.replies)
    assert lines == ["fix-me: running fix-me on deployment/shop/api", "fix-me: scale Deployment shop/api 2 -&gt; 3",
                     "fix-me: verified: verified after 0s: up", "fix-me: verifying (up to 2m): up"]
    assert len(env.twilio.messages) == 1 and env.twilio.calls == []  # the page; no progress by SMS or voice
    assert env.slack.violations == []


def buttons(msg: SlackMessage) -> dict[str, str]:
    return {e["action_id"]: e["value"] for b in msg.blocks if b["type"] == "actions" for e in b["elements"]}


async def waiting_approval(env: RemEnv) -> tuple[int, SlackMessage]:
    iid = await open_critical(env, "AskMe")
    await run(env.h)
    await env.settle()  # the run waits at its approval step; the escalation is held, so no incident message yet
    assert pages(env)["slack"] == 1
    [request] = [m for m in env.slack.top_level() if buttons(m)]
    return iid, request


def click(env: RemEnv, value: str, action: str, user: str) -> tuple[bytes, dict[str, str]]:
    _, headers = slack_click(env.h, 0, action=action, user=user)
    payload = {"type": "block_actions", "user": {"id": user}, "actions": [{"action_id": action, "value": value}]}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = headers["X-Slack-Request-Timestamp"]
    sig = hmac.new(SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return body, {**headers, "X-Slack-Signature": "v0=" + sig}


async def press(env: RemEnv, value: str, user: str = "U0ALICE", action: str = "tocsin_run_approve",
                forge: bool = False) -> Any:
    body, headers = click(env, value, action, user)
    if forge:
        headers["X-Slack-Signature"] = "v0=" + "0" * 64
    return await env.h.client.post("/slack/interactions", content=body, headers=headers)


async def test_approve_from_slack_resumes_the_run_and_a_double_click_decides_once(renv: Factory) -> None:
    env = await renv(approvals={"teams": ["platform"], "slack_channel": "#approvals"})
    iid, request = await waiting_approval(env)
    value = buttons(request)["tocsin_run_approve"]
    assert buttons(request)["tocsin_run_reject"] == value and value.endswith(":0")
    assert "scale api?" in request.text and env.scale_calls() == 0
    first, second = await press(env, value), await press(env, value)
    assert first.status_code == 200 and first.json()["text"] == f"Run {value.split(':')[0]} step 0: approved by alice."
    assert second.status_code == 200 and "already approved by alice" in second.json()["text"]
    await env.rem.drain()
    assert env.scale_calls() == 1
    run_id = value.split(":")[0]
    detail = (await env.h.api("GET", f"/api/v1/runs/{run_id}")).json()
    assert detail["outcome"] == "completed" and detail["approvals"][0]["decided_by"] == "alice"
    assert [a["actor"] for a in detail["audit"] if a["kind"] == "approval_decided"] == ["alice"]
    assert (await env.incident(iid))["state"] == "triggered"


async def test_unauthorised_unmapped_and_forged_clicks_decide_nothing(renv: Factory) -> None:
    env = await renv(approvals={"responders": ["alice"]})
    iid, request = await waiting_approval(env)
    value = buttons(request)["tocsin_run_approve"]
    bob = await press(env, value, user="U0BOB")  # a responder, but not on the allow-list
    assert bob.status_code == 200 and "bob is not an approver" in bob.json()["text"]
    nobody = await press(env, value, user="U0NOBODY", action="tocsin_run_reject")
    assert "not mapped to a responder" in nobody.json()["text"]
    forged = await press(env, value, forge=True)
    assert forged.status_code == 401
    await env.rem.drain()
    run_id = value.split(":")[0]
    detail = (await env.h.api("GET", f"/api/v1/runs/{run_id}")).json()
    assert detail["status"] == "awaiting_approval" and detail["approvals"][0]["decision"] is None
    refused = [e["detail"] for e in (await env.incident(iid))["timeline"]
               if e["kind"] == "remediation_approval_refused"]
    assert [(r["slack_user"], r["responder"]) for r in refused] == [("U0BOB", "bob"), ("U0NOBODY", None)]
    assert env.scale_calls() == 0
