"""GET /api/v1/report (scope read) and "was this actionable?" from the API (scope respond) and from a signed
Slack click on the resolved incident's message; each answer is on the timeline under the person's name."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio
from tests.support.clock import FakeClock
from tests.support.escalation_env import READER_TOKEN, Env, esc_config, run, slack_click
from tests.support.harness import start_harness


@pytest.fixture
async def env(db_url: str, tmp_path: Path, fake_slack: FakeSlack, fake_twilio: FakeTwilio,
              fake_pagerduty: FakePagerDuty) -> AsyncIterator[Env]:
    async for h in start_harness(esc_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty), FakeClock()):
        yield Env(h, fake_slack, fake_twilio, fake_pagerduty)


async def _report(env: Env, **params: str) -> Any:
    env.h.clock.advance(seconds=1)  # the period ends now, exclusive: the incident opened at the fake clock's now
    r = await env.h.api("GET", "/api/v1/report", params={"since": "1d", **params})
    assert r.status_code == 200, r.text
    return r.json()


def _feedback_lines(incident: dict[str, Any]) -> list[tuple[str, bool, str]]:
    return [(e["actor"], e["detail"]["actionable"], e["detail"]["channel"]) for e in incident["timeline"]
            if e["kind"] == "feedback"]


async def test_report_needs_the_read_scope_and_feedback_the_respond_scope(env: Env) -> None:
    iid = await env.page(alertname="DiskFull")
    env.h.clock.advance(seconds=1)
    assert (await env.h.client.get("/api/v1/report")).status_code == 401
    reader = {"Authorization": f"Bearer {READER_TOKEN}"}
    r = await env.h.client.get("/api/v1/report", params={"since": "1d"}, headers=reader)
    assert r.status_code == 200 and r.json()["totals"]["incidents"] == 1
    r = await env.h.client.post(f"/api/v1/incidents/{iid}/feedback", json={"actionable": True}, headers=reader)
    assert r.status_code == 403 and "respond" in r.json()["detail"]
    r = await env.h.api("GET", "/api/v1/report", params={"since": "nonsense"})
    assert r.status_code == 422 and "not a duration" in r.json()["detail"]


async def test_feedback_from_the_api_latest_answer_wins_and_feeds_the_report(env: Env) -> None:
    iid = await env.page(alertname="DiskFull")
    assert (await _report(env))["totals"]["actionable"] == 0
    r = await env.h.api("POST", f"/api/v1/incidents/{iid}/feedback", json={"actionable": True})
    assert r.status_code == 200 and r.json() == {"id": iid, "actionable": True, "by": "alice"}
    assert (await _report(env))["totals"]["actionable"] == 1
    r = await env.h.api("POST", f"/api/v1/incidents/{iid}/feedback", json={"actionable": False, "channel": "console"})
    assert r.status_code == 200
    assert (await _report(env))["totals"]["actionable"] == 0
    assert _feedback_lines(await env.incident(iid)) == [("alice", True, "api"), ("alice", False, "console")]
    assert (await env.h.api("POST", "/api/v1/incidents/999999/feedback", json={"actionable": True})).status_code == 404
    assert (await env.h.api("POST", f"/api/v1/incidents/{iid}/feedback", json={"actionable": "maybe"})).status_code \
        == 422


async def test_the_html_report_is_one_self_contained_page(env: Env) -> None:
    await env.page(alertname="DiskFull")
    env.h.clock.advance(seconds=1)
    r = await env.h.api("GET", "/api/v1/report", params={"since": "1d", "format": "html", "zone": "Europe/Berlin"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    assert r.text.count("<svg") == 3
    r = await env.h.api("GET", "/api/v1/report", params={"zone": "Nowhere/Special"})
    assert r.status_code == 422


async def test_the_resolved_slack_message_asks_and_a_signed_click_answers(env: Env) -> None:
    iid = await env.page(alertname="DiskFull")
    await run(env.h)
    assert (await env.h.api("POST", f"/api/v1/incidents/{iid}/resolve", json={"note": "freed space"})).status_code \
        == 200
    await run(env.h)
    [msg] = [m for m in env.slack.top_level() if str(iid) in json.dumps(m.blocks)]
    blocks = json.loads(msg.blocks) if isinstance(msg.blocks, str) else msg.blocks
    [feedback] = [b for b in blocks if b.get("block_id") == "tocsin_feedback"]
    assert [e["action_id"] for e in feedback["elements"]] == ["tocsin_feedback_yes", "tocsin_feedback_no"]
    assert env.slack.violations == []

    body, headers = slack_click(env.h, iid, action="tocsin_feedback_no", user="U0BOB")
    r = await env.h.client.post("/slack/interactions", content=body, headers=headers)
    assert r.status_code == 200 and r.json()["text"] == f"T-{iid}: thanks: recorded as not actionable"
    body, headers = slack_click(env.h, iid, action="tocsin_feedback_yes", user="U0STRANGER")
    r = await env.h.client.post("/slack/interactions", content=body, headers=headers)
    assert r.status_code == 200 and "not recorded" in r.json()["text"]
    body, headers = slack_click(env.h, iid, action="tocsin_feedback_yes", user="U0BOB", secret="wrong-secret")
    assert (await env.h.client.post("/slack/interactions", content=body, headers=headers)).status_code == 401

    incident = await env.incident(iid)
    assert _feedback_lines(incident) == [("bob", False, "slack")]
    assert any(e["kind"] == "action_refused" and e["detail"]["action"] == "feedback" for e in incident["timeline"])
    # bob says no: the resolve reason alone would have made it actionable, his answer decides
    assert (await _report(env))["totals"]["actionable"] == 0
