"""Hostile callbacks: forged, expired, replayed, oversized and malformed Slack and Twilio requests change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.escalation_env import ALICE, TOCSIN_NUMBER, Env, run, slack_click, twilio_post


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """Callback parsing and verification do not depend on the engine: SQLite is enough here."""
    return f"sqlite:///{tmp_path / 'tocsin.db'}"


async def state(env: Env, iid: int) -> str:
    return str((await env.incident(iid))["state"])


@pytest.mark.parametrize(("change", "status"), [
    ({"secret": "not-the-signing-secret"}, 401),
    ({"age": 301}, 401),  # a replay of a correctly signed click, older than 5 minutes
    ({"age": -400}, 401),
])
async def test_forged_or_expired_slack_clicks_are_rejected(env: Env, change: dict, status: int) -> None:
    iid = await env.page()
    body, headers = slack_click(env.h, iid, **change)
    r = await env.h.client.post("/slack/interactions", content=body, headers=headers)
    assert r.status_code == status
    assert await state(env, iid) == "triggered"


async def test_slack_requests_without_signature_tampered_oversized_or_malformed(env: Env) -> None:
    iid = await env.page()
    body, headers = slack_click(env.h, iid)
    post = env.h.client.post
    assert (await post("/slack/interactions", content=body)).status_code == 401
    tampered = body.replace(b"tocsin_ack", b"tocsin_resolve")
    assert (await post("/slack/interactions", content=tampered, headers=headers)).status_code == 401
    big = b"payload=" + b"x" * (1024 * 1024 + 1)
    assert (await post("/slack/interactions", content=big, headers=headers)).status_code == 413
    for junk in (b"payload=%7Bnot-json", b"\xff\xfe", b"payload=" + b"%5B%5D"):
        _junk_body, junk_headers = slack_click(env.h, iid)
        junk_headers["X-Slack-Signature"] = slack_sig(env, junk, junk_headers["X-Slack-Request-Timestamp"])
        assert (await post("/slack/interactions", content=junk, headers=junk_headers)).status_code == 400
    assert await state(env, iid) == "triggered"


def slack_sig(env: Env, body: bytes, ts: str) -> str:
    import hashlib
    import hmac

    from tests.support.escalation_env import SIGNING_SECRET
    return "v0=" + hmac.new(SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()


async def test_signed_click_for_unknown_incident_or_by_unknown_user(env: Env) -> None:
    body, headers = slack_click(env.h, 999)
    r = await env.h.client.post("/slack/interactions", content=body, headers=headers)
    assert r.status_code == 200 and "unknown incident" in r.json()["text"]
    iid = await env.page()
    body, headers = slack_click(env.h, iid, user="U0STRANGER")
    r = await env.h.client.post("/slack/interactions", content=body, headers=headers)
    assert r.status_code == 200 and "not changed" in r.json()["text"]  # no responder: refused by default
    assert await state(env, iid) == "triggered"  # (channels.responder_policy; tests/webhook/api/test_responder_policy)


async def test_forged_twilio_callbacks_are_rejected(env: Env) -> None:
    iid = await env.page()
    params = {"From": ALICE, "To": TOCSIN_NUMBER, "Body": f"RES T-{iid}"}
    path, body, headers = twilio_post("/twilio/sms", params, token="wrong-auth-token")
    assert (await env.h.client.post(path, content=body, headers=headers)).status_code == 403
    _, _, voice_headers = twilio_post("/twilio/voice", params)  # signed for another URL
    assert (await env.h.client.post("/twilio/sms", content=body, headers=voice_headers)).status_code == 403
    _, good_body, good_headers = twilio_post("/twilio/sms", {**params, "Body": f"ACK T-{iid}"})
    tampered = good_body.replace(b"ACK", b"RES")
    assert (await env.h.client.post("/twilio/sms", content=tampered, headers=good_headers)).status_code == 403
    assert (await env.h.client.post("/twilio/sms", content=good_body)).status_code == 403  # no signature
    digits = {"From": TOCSIN_NUMBER, "To": ALICE, "Digits": "2"}
    path, body, headers = twilio_post("/twilio/voice", digits, query=f"incident={iid}")
    other = path.replace(f"incident={iid}", "incident=1000")  # signed for another incident
    assert (await env.h.client.post(other, content=body, headers=headers)).status_code == 403
    assert await state(env, iid) == "triggered"


async def test_twilio_malformed_oversized_unknown_sender_and_bad_keys(env: Env) -> None:
    iid = await env.page()
    post = env.h.client.post
    assert (await post("/twilio/sms", content=b"a=1&&=&%zz", headers={"X-Twilio-Signature": "x"})).status_code == 400
    big = b"Body=" + b"a" * (64 * 1024)
    assert (await post("/twilio/sms", content=big, headers={"X-Twilio-Signature": "x"})).status_code == 413
    path, body, headers = twilio_post("/twilio/sms", {"From": "+19995550100", "Body": f"ACK T-{iid}"})
    r = await post(path, content=body, headers=headers)
    assert r.status_code == 200 and "not a Tocsin responder" in r.text
    path, body, headers = twilio_post("/twilio/sms", {"From": ALICE, "Body": "please stop"})
    assert "ACK T-41" in (await post(path, content=body, headers=headers)).text  # the help text
    path, body, headers = twilio_post("/twilio/voice", {"To": ALICE, "Digits": "9"}, query=f"incident={iid}")
    assert "not valid" in (await post(path, content=body, headers=headers)).text
    assert await state(env, iid) == "triggered"
    await run(env.h)


async def test_sms_resolve_and_voice_resolve_work(env: Env) -> None:
    first = await env.page(alertname="One")
    second = await env.page(alertname="Two")
    path, body, headers = twilio_post("/twilio/sms", {"From": ALICE, "Body": f"res T-{first}"})
    assert f"T-{first}: resolved" in (await env.h.client.post(path, content=body, headers=headers)).text
    path, body, headers = twilio_post("/twilio/voice", {"To": ALICE, "Digits": "2"}, query=f"incident={second}")
    assert "Resolved" in (await env.h.client.post(path, content=body, headers=headers)).text
    assert (await state(env, first), await state(env, second)) == ("resolved", "resolved")
