"""Pages through Web Push: encrypted to every subscribed browser, expired ones removed, throttling retried, and a
person without a subscription still reached by their next contact rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from tests.webhook.push.conftest import BOB_TOKEN, SUBJECT, PushEnv
from webhook.config.channels import WebPushChannel
from webhook.notifiers import Channel, IncidentState, IncidentView, Message, MessageKind, Severity, Target
from webhook.notifiers.render import Renderer
from webhook.notifiers.webpush import WebPushNotifier
from webhook.push.keys import load_vapid
from webhook.push.tokens import AckSigner


async def test_a_page_reaches_every_subscribed_browser_encrypted_and_signed(penv: PushEnv) -> None:
    phone, laptop = penv.fake.subscribe(), penv.fake.subscribe()
    await penv.store(phone, device="phone")
    await penv.store(laptop, device="laptop")
    iid = await penv.page()
    await penv.run()
    pushed = await penv.fake.wait_for(2)
    assert {p.subscription for p in pushed} == {phone.id, laptop.id}
    body = pushed[0].payload
    assert body["title"] == f"[CRIT] T-{iid} HighErrorRate: error ratio above 5%"
    assert body["incident"] == str(iid)
    assert body["url"] == f"/console/#/incidents/{iid}"
    assert (body["severity"], body["lang"]) == ("critical", "en")
    assert "alertname=HighErrorRate" in body["body"]
    assert body["ack_token"]
    headers = pushed[0].headers
    assert (headers["TTL"], headers["Urgency"], headers["Topic"]) == ("3600", "high", f"tocsin-incident-{iid}")
    assert pushed[0].claims["sub"] == SUBJECT
    assert pushed[0].claims["aud"] == penv.fake.origin
    [delivery] = await penv.deliveries(iid, "push")
    assert (delivery["outcome"], delivery["to"]) == ("delivered", "alice")
    listed = (await penv.api("GET", "/api/v1/push/subscriptions")).json()["subscriptions"]
    assert all(s["last_success"] for s in listed)


async def test_an_expired_subscription_is_removed_and_the_others_still_get_the_page(penv: PushEnv) -> None:
    old, new = penv.fake.subscribe(), penv.fake.subscribe()
    await penv.store(old, device="old phone")
    await penv.store(new, device="new phone")
    penv.fake.answer(old, 410)
    iid = await penv.page()
    await penv.run()
    [pushed] = await penv.fake.wait_for(1)
    assert pushed.subscription == new.id
    listed = (await penv.api("GET", "/api/v1/push/subscriptions")).json()["subscriptions"]
    assert [s["device"] for s in listed] == ["new phone"]
    [delivery] = await penv.deliveries(iid, "push")
    assert delivery["outcome"] == "delivered"
    assert penv.fake.refused == [(old.id, 410, "told to")]


async def test_expired_and_refused_subscriptions_fail_the_page_with_the_reason(penv: PushEnv) -> None:
    gone = penv.fake.subscribe()
    await penv.store(gone)
    penv.fake.answer(gone, 404)
    first = await penv.page()
    await penv.run()
    [delivery] = await penv.deliveries(first, "push")
    assert delivery["outcome"] == "failed"
    assert "expired" in delivery["error"] and "removed" in delivery["error"]
    assert (await penv.api("GET", "/api/v1/push/subscriptions")).json()["subscriptions"] == []
    refusing = penv.fake.subscribe()
    await penv.store(refusing)
    penv.fake.answer(refusing, 403)
    second = await penv.page(alertname="DiskFull")
    await penv.run()
    [delivery] = await penv.deliveries(second, "push")
    assert delivery["outcome"] == "failed"
    assert delivery["error"].startswith("push refused: 403")
    [kept] = (await penv.api("GET", "/api/v1/push/subscriptions")).json()["subscriptions"]
    assert kept["last_error"].startswith("403") and kept["last_failure"]


async def test_throttled_and_failing_push_services_are_retried_until_they_take_it(penv: PushEnv) -> None:
    phone = penv.fake.subscribe()
    await penv.store(phone)
    penv.fake.answer(phone, 429, 500)
    iid = await penv.page()
    await penv.run()
    first = await penv.deliveries(iid, "push")
    assert [d["outcome"] for d in first] == ["retry"]
    assert "429" in first[0]["error"]
    await penv.run(minutes=1, every=15)
    [pushed] = await penv.fake.wait_for(1)
    assert pushed.subscription == phone.id
    tries = await penv.deliveries(iid, "push")
    assert [d["outcome"] for d in tries] == ["retry", "retry", "delivered"]
    assert tries[1]["error"].startswith("push service: 500")


async def test_without_a_subscription_the_page_fails_clearly_and_the_next_rule_pages(penv: PushEnv) -> None:
    high = await penv.page(severity="high")
    critical = await penv.page(severity="critical", alertname="DiskFull")
    await penv.run()
    for iid in (high, critical):
        [push] = await penv.deliveries(iid, "push")
        assert push["outcome"] == "failed"
        assert push["error"].startswith("no push subscription for alice")
    [fallback] = await penv.deliveries(critical, "sms")  # a failed critical page falls back to SMS at once
    assert (fallback["outcome"], fallback["to"]) == ("delivered", "alice")
    assert await penv.deliveries(high, "sms") == []
    await penv.run(minutes=2)
    [sms] = await penv.deliveries(high, "sms")  # alice's next contact rule: SMS after 2 minutes
    assert (sms["outcome"], sms["to"]) == ("delivered", "alice")


async def test_a_later_step_pages_the_next_person_through_their_browser(penv: PushEnv) -> None:
    bobs = penv.fake.subscribe()
    await penv.store(bobs, token=BOB_TOKEN)
    iid = await penv.page()
    await penv.run(minutes=30, every=300)
    [pushed] = await penv.fake.wait_for(1)
    assert pushed.subscription == bobs.id
    assert pushed.payload["lang"] == "de"
    assert pushed.payload["title"].startswith(f"[KRIT] T-{iid}")


def test_payload_of_an_acknowledged_incident_says_who_and_carries_no_ack_token(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    key.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    now = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    notifier = WebPushNotifier(WebPushChannel(subject=SUBJECT), load_vapid(key),
                               AckSigner(b"k" * 32, timedelta(hours=1)), None, Renderer(), lambda: now)  # type: ignore[arg-type]
    view = IncidentView(id="7", code="T-7", incident_key="k", title="disk full", severity=Severity.LOW,
                        state=IncidentState.ACKNOWLEDGED, opened_at=now, acked_by="bob")
    msg = Message(MessageKind.ACK, Target(Channel.PUSH, "alice", None, SecretStr("x")), incident=view, locale="de")
    body = notifier.payload(msg)
    assert body == {"title": "[NIEDRIG] T-7 disk full", "body": "Bestätigt von bob.", "incident": "7",
                    "url": "/console/#/incidents/7", "severity": "low", "ack_token": None, "lang": "de"}
