"""The push API refuses malformed, oversized, unauthenticated and hostile input; Acknowledge tokens are bound to
their incident and person and expire."""

from __future__ import annotations

from typing import Any

from tests.support.fake_push import b64url, unb64url
from tests.webhook.push.conftest import BOB_TOKEN, MACHINE_TOKEN, PushEnv
from webhook.push.keys import ack_key
from webhook.push.tokens import AckSigner


def subscription(penv: PushEnv, **change: Any) -> dict[str, Any]:
    body = penv.fake.subscribe().to_json()
    keys = {**body["keys"], **change.pop("keys", {})}
    return {**body, "keys": keys, **change}


def signer(penv: PushEnv) -> AckSigner:
    push = penv.h.cfg.channels.webpush
    assert push is not None
    return AckSigner(ack_key(penv.h.cfg, push), push.ack_token_ttl)


async def test_key_is_the_uncompressed_p256_point_and_needs_a_token(penv: PushEnv) -> None:
    r = await penv.api("GET", "/api/v1/push/key")
    raw = unb64url(r.json()["public_key"])
    assert (len(raw), raw[0]) == (65, 4)
    assert (await penv.h.client.get("/api/v1/push/key")).status_code == 401


async def test_subscribe_list_and_remove_own_subscriptions(penv_any: PushEnv) -> None:
    penv = penv_any
    body = subscription(penv, device="Pixel")
    r = await penv.api("POST", "/api/v1/push/subscriptions", json=body)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    again = await penv.api("POST", "/api/v1/push/subscriptions", json=body)  # a browser renewing: same row
    assert again.json()["id"] == sid
    [listed] = (await penv.api("GET", "/api/v1/push/subscriptions")).json()["subscriptions"]
    assert listed["device"] == "Pixel" and listed["push_service"] == penv.fake.origin
    assert body["endpoint"] not in str(listed) and body["keys"]["auth"] not in str(listed)
    assert (await penv.api("GET", "/api/v1/push/subscriptions", BOB_TOKEN)).json()["subscriptions"] == []
    assert (await penv.api("DELETE", f"/api/v1/push/subscriptions/{sid}", BOB_TOKEN)).status_code == 404
    taken = await penv.api("POST", "/api/v1/push/subscriptions", BOB_TOKEN, json=body)
    assert taken.status_code == 409 and "another person" in taken.json()["detail"]
    assert (await penv.api("DELETE", f"/api/v1/push/subscriptions/{sid}")).status_code == 204
    assert (await penv.api("DELETE", f"/api/v1/push/subscriptions/{sid}")).status_code == 404


MALFORMED: list[tuple[dict[str, Any], str]] = [
    ({"keys": {"p256dh": "not base64 url!"}}, "keys.p256dh is not base64url"),
    ({"keys": {"p256dh": b64url(b"\x04" + b"\x01" * 63)}}, "keys.p256dh must be 65 bytes, got 64"),
    ({"keys": {"p256dh": b64url(b"\x04" + b"\x01" * 64)}}, "keys.p256dh is not a point on P-256"),
    ({"keys": {"auth": b64url(b"\x00" * 15)}}, "keys.auth must be 16 bytes, got 15"),
    ({"endpoint": "http://push.example.com/x"}, "endpoint must be an https URL"),
    ({"endpoint": "http://10.1.2.3/x"}, "endpoint must be an https URL"),
    ({"endpoint": "ftp://127.0.0.1/x"}, "endpoint must be an https URL"),
    ({"endpoint": "https://user:pw@push.example.com/x"}, "without credentials"),
    # Tocsin POSTs to the endpoint: only the browsers' push services (channels.webpush.allowed_hosts)
    ({"endpoint": "https://10.1.2.3/x"}, "is not a known push service"),
    ({"endpoint": "https://metadata.google.internal/computeMetadata/v1/"}, "is not a known push service"),
    ({"endpoint": "https://fcm.googleapis.com.evil.example/x"}, "is not a known push service"),
]


async def test_the_push_services_of_the_browsers_are_accepted(penv: PushEnv) -> None:
    for endpoint in ("https://fcm.googleapis.com/fcm/send/abc", "https://updates.push.services.mozilla.com/wpush/v2/x",
                     "https://web.push.apple.com/QGx", "https://wns2-par02p.notify.windows.com/w/?token=x"):
        r = await penv.api("POST", "/api/v1/push/subscriptions", json=subscription(penv, endpoint=endpoint))
        assert r.status_code == 201, (endpoint, r.text)
    assert len((await penv.api("GET", "/api/v1/push/subscriptions")).json()["subscriptions"]) == 4


async def test_malformed_subscriptions_are_refused_with_the_reason(penv: PushEnv) -> None:
    for change, said in MALFORMED:
        r = await penv.api("POST", "/api/v1/push/subscriptions", json=subscription(penv, **change))
        assert r.status_code == 422, (change, r.text)
        assert said in r.json()["detail"], (change, r.text)
    assert (await penv.api("GET", "/api/v1/push/subscriptions")).json()["subscriptions"] == []


async def test_oversized_unauthenticated_and_machine_subscriptions_are_refused(penv: PushEnv) -> None:
    long = subscription(penv, endpoint="https://push.example.com/" + "a" * 2048)
    assert (await penv.api("POST", "/api/v1/push/subscriptions", json=long)).status_code == 422
    extra = subscription(penv, keys={"p256dh": "A" * 500})
    assert (await penv.api("POST", "/api/v1/push/subscriptions", json=extra)).status_code == 422
    anonymous = await penv.h.client.post("/api/v1/push/subscriptions", json=subscription(penv))
    assert anonymous.status_code == 401
    machine = await penv.api("POST", "/api/v1/push/subscriptions", MACHINE_TOKEN, json=subscription(penv))
    assert machine.status_code == 403 and "not a responder" in machine.json()["detail"]
    assert (await penv.h.client.get("/api/v1/push/subscriptions")).status_code == 401


async def test_a_person_keeps_at_most_the_configured_number_of_subscriptions(penv: PushEnv) -> None:
    for _ in range(10):
        await penv.store(penv.fake.subscribe())
    r = await penv.api("POST", "/api/v1/push/subscriptions", json=subscription(penv))
    assert r.status_code == 409 and "at most 10" in r.json()["detail"]


async def test_ack_token_acknowledges_as_its_person_without_any_other_credential(penv: PushEnv) -> None:
    iid = await penv.page()
    token = signer(penv).issue(iid, "bob", penv.h.clock())
    r = await penv.h.client.post("/api/v1/push/ack", json={"token": token, "incident": iid})
    assert r.status_code == 200, r.text
    assert r.json() == {"id": iid, "state": "acknowledged", "changed": True, "by": "bob"}
    incident = (await penv.api("GET", f"/api/v1/incidents/{iid}")).json()
    assert incident["acked_by"] == "bob"


async def test_forged_expired_and_misdirected_ack_tokens_are_refused(penv: PushEnv) -> None:
    iid = await penv.page()
    other = await penv.page(alertname="DiskFull")
    good = signer(penv).issue(iid, "alice", penv.h.clock())
    body, _, mac = good.partition(".")
    forged_claims = b64url(unb64url(body).replace(b'"alice"', b'"bobby"'))
    cases = [
        ({"token": f"{forged_claims}.{mac}"}, 401),
        ({"token": AckSigner(b"x" * 32, signer(penv).ttl).issue(iid, "alice", penv.h.clock())}, 401),
        ({"token": "garbage"}, 401),
        ({"token": "a" * 600}, 422),
        ({"token": good, "incident": other}, 403),
        ({"token": signer(penv).issue(iid, "mallory", penv.h.clock())}, 403),
        ({}, 422),
    ]
    for body_, status in cases:
        r = await penv.h.client.post("/api/v1/push/ack", json=body_)
        assert r.status_code == status, (body_, r.text)
    penv.h.clock.advance(hours=25)
    expired = await penv.h.client.post("/api/v1/push/ack", json={"token": good})
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    assert (await penv.api("GET", f"/api/v1/incidents/{iid}")).json()["state"] == "triggered"
