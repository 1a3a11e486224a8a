"""Critical incidents page every channel once, climb the chain until acked, and every channel learns of the ack."""

from __future__ import annotations

import pytest

from tests.support.escalation_env import ALICE, BOB, CAROL, TOCSIN_NUMBER, Env, run, slack_click, twilio_post
from tests.support.payloads import alert, payload


def pages(env: Env) -> dict[str, int]:
    return {"slack": len(env.slack.top_level()), "sms": len(env.twilio.messages), "voice": len(env.twilio.calls),
            "pagerduty": sum(1 for a in env.pd.alerts.values() for e in a.events if e["event_action"] == "trigger")}


def sms_to(env: Env, number: str) -> list[str]:
    return [m.body or "" for m in env.twilio.messages if m.to == number]


async def test_critical_is_paged_on_every_channel_once_despite_50_duplicate_webhooks(env: Env) -> None:
    body = payload(alert(team="platform"))
    for _ in range(50):
        assert (await env.h.post_webhook(body)).status_code == 200
        await run(env.h)
    assert pages(env) == {"slack": 1, "sms": 1, "voice": 0, "pagerduty": 1}
    assert env.twilio.messages[0].to == ALICE and "Reply ACK T-1" in (env.twilio.messages[0].body or "")
    assert env.slack.violations == env.twilio.violations == env.pd.violations == []
    timeline = (await env.incident(1))["timeline"]
    assert [e["detail"]["channel"] for e in timeline if e["kind"] == "delivery"] == ["pagerduty", "slack", "sms"]


async def test_escalation_climbs_while_nobody_acknowledges_and_repeats(env: Env) -> None:
    iid = await env.page()
    await run(env.h, minutes=4)
    assert pages(env) == {"slack": 1, "sms": 1, "voice": 0, "pagerduty": 1}
    await run(env.h, minutes=2)  # 6 min: step 2 calls the primary
    assert [c.to for c in env.twilio.calls] == [ALICE]
    await run(env.h, minutes=5)  # 11 min: step 3 texts the secondary and the team lead
    assert sorted(m.to for m in env.twilio.messages) == sorted([ALICE, BOB, CAROL])
    await run(env.h, minutes=20)  # 31 min: the chain repeats once (repeat: 1); Slack stays one message
    assert len(sms_to(env, ALICE)) == 2 and len(env.slack.top_level()) == 1
    assert len(env.slack.calls("chat.update")) == 1
    await run(env.h, minutes=60)  # nothing after the last repeat
    assert pages(env) == {"slack": 1, "sms": 6, "voice": 2, "pagerduty": 2}
    steps = [e["detail"]["step"] for e in (await env.incident(iid))["timeline"] if e["kind"] == "escalation_step"]
    assert steps == [1, 2, 3, 1, 2, 3]


async def _ack_via_api(env: Env, iid: int) -> None:
    assert (await env.h.api("POST", f"/api/v1/incidents/{iid}/ack")).json()["changed"] is True


async def _ack_via_slack(env: Env, iid: int) -> None:
    body, headers = slack_click(env.h, iid)
    r = await env.h.client.post("/slack/interactions", content=body, headers=headers)
    assert r.status_code == 200 and "acknowledged" in r.json()["text"]


async def _ack_via_sms(env: Env, iid: int) -> None:
    path, body, headers = twilio_post("/twilio/sms", {"From": ALICE, "To": TOCSIN_NUMBER, "Body": f"ack t-{iid}"})
    r = await env.h.client.post(path, content=body, headers=headers)
    assert r.status_code == 200 and f"T-{iid}: acknowledged" in r.text


async def _ack_via_voice(env: Env, iid: int) -> None:
    params = {"From": TOCSIN_NUMBER, "To": ALICE, "Digits": "1", "CallSid": "CA1"}
    path, body, headers = twilio_post("/twilio/voice", params, query=f"incident={iid}")
    r = await env.h.client.post(path, content=body, headers=headers)
    assert r.status_code == 200 and "<Say" in r.text and "Acknowledged" in r.text


@pytest.mark.parametrize("ack", [_ack_via_api, _ack_via_slack, _ack_via_sms, _ack_via_voice],
                         ids=["api", "slack-button", "sms-reply", "voice-key"])
async def test_first_ack_from_any_channel_stops_escalation_and_shows_everywhere(env: Env, ack) -> None:
    iid = await env.page()
    await run(env.h, minutes=6)  # paged on step 1, called on step 2
    assert [c.to for c in env.twilio.calls] == [ALICE]
    await ack(env, iid)
    await run(env.h, minutes=60)
    incident = await env.incident(iid)
    assert incident["state"] == "acknowledged" and incident["acked_by"] == "alice"
    assert pages(env) == {"slack": 1, "sms": 2, "voice": 1, "pagerduty": 1}  # sms #2 is the ack notice
    (message,) = env.slack.top_level()
    assert message.updates == 1 and "Acknowledged" in str(message.blocks)
    assert "tocsin_ack" not in str(message.blocks)  # the button is gone once acknowledged
    assert [a.status for a in env.pd.alerts.values()] == ["acknowledged"]
    assert "Acknowledged by alice" in sms_to(env, ALICE)[-1]
    kinds = [e["kind"] for e in incident["timeline"]]
    assert "escalation_stopped" in kinds and kinds.count("escalation_step") == 2


async def test_resolve_by_alertmanager_stops_escalation_and_resolves_everywhere(env: Env) -> None:
    iid = await env.page()
    await run(env.h)
    await env.h.post_webhook(payload(alert(status="resolved")))
    await run(env.h, minutes=40)
    assert (await env.incident(iid))["state"] == "resolved"
    assert [a.status for a in env.pd.alerts.values()] == ["resolved"]
    assert "Resolved" in str(env.slack.top_level()[0].blocks)
    assert pages(env)["voice"] == 0


async def test_snooze_pauses_the_chain_and_it_resumes_with_the_time_left(env: Env) -> None:
    iid = await env.page()
    await run(env.h, minutes=2)
    r = await env.h.api("POST", f"/api/v1/incidents/{iid}/snooze", json={"duration": "1h"})
    assert r.status_code == 200
    await run(env.h, minutes=59)
    assert env.twilio.calls == []  # step 2 (due at 5 min) waits while snoozed
    await run(env.h, minutes=2)  # the snooze ends at 62 min; step 2 had 3 min left
    assert env.twilio.calls == []
    await run(env.h, minutes=3)
    assert [c.to for c in env.twilio.calls] == [ALICE]
    assert env.slack.top_level()[0].updates >= 2  # snoozed, then triggered again


async def test_new_alert_on_acknowledged_incident_renotifies(env: Env) -> None:
    iid = await env.page()
    await run(env.h)
    await env.h.api("POST", f"/api/v1/incidents/{iid}/ack")
    await run(env.h)
    before = len(sms_to(env, ALICE))
    await env.h.post_webhook(payload(alert(pod="p2")))  # same incident key, a new alert
    await run(env.h, minutes=10)
    assert (await env.incident(iid))["alert_count"] == 2
    assert len(sms_to(env, ALICE)) == before + 1
    assert any("new alert joined" in m.text for m in env.slack.top_level()[0].replies)
    assert env.twilio.calls == []  # re-notification is not a new escalation
