"""Sign-in with a one-time code: sent through the person's channel, checked with a bounded number of attempts,
giving a session cookie whose changes need the CSRF token; unknown names look like known ones."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio
from tests.support.harness import API_TOKEN
from tests.support.payloads import alert, payload
from tests.support.signin import COOKIE, plain_text, read_code, seen_now
from tests.support.smtp import Inbox
from tests.webhook.signin.conftest import Console, signin_config, start_console
from webhook.api.session import CODE_SENT, secure_cookie


async def ask(c: Console, name: str) -> httpx.Response:
    return await c.h.client.post("/api/v1/session/code", json={"name": name})


async def enter(c: Console, name: str, code: str) -> httpx.Response:
    return await c.h.client.post("/api/v1/session", json={"name": name, "code": code})


async def code_for(c: Console, name: str) -> str:
    seen = seen_now(c.inbox)
    assert (await ask(c, name)).status_code == 202
    return await read_code(c.inbox, seen=seen)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**len(code):0{len(code)}d}"


async def open_incident(c: Console) -> int:
    await c.h.post_webhook(payload(alert(namespace="shop")))
    r = await c.h.api("GET", "/api/v1/incidents")
    return int(r.json()["incidents"][0]["id"])


async def test_a_code_by_email_signs_alice_in_and_the_session_names_her_with_her_permissions(console: Console) -> None:
    r = await ask(console, "Alice@Example.com")  # by e-mail address, any case
    assert r.status_code == 202 and r.json() == CODE_SENT
    await console.h.app.state.signin.drain()
    [mail] = console.inbox.mails
    assert mail["To"] == "alice@example.com" and mail["Subject"] == "Your Tocsin sign-in code"
    found = re.search(r"\b(\d{6})\b", plain_text(mail))
    assert found is not None
    code = found.group(1)
    r = await enter(console, "alice", code)
    assert r.status_code == 200
    body = r.json()
    assert body["person"] == {"name": "alice", "full_name": "Alice Example", "locale": "en",
                              "timezone": "Europe/Berlin",
                              "permissions": ["approve", "read", "remediate", "respond", "schedules"]}
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/" in cookie and "Max-Age=43200" in cookie and "Secure" not in cookie  # plain http here
    me = await console.h.client.get("/api/v1/session")
    assert me.status_code == 200 and me.json() == body
    assert (await enter(console, "alice", code)).status_code == 401  # a code signs in once


async def test_bob_gets_his_code_as_a_slack_dm_in_german_and_carol_hers_by_sms(
        console: Console, fake_slack: FakeSlack, fake_twilio: FakeTwilio) -> None:
    signed = await console.sign_in("bob")
    [dm] = fake_slack.top_level()
    assert dm.channel == "U0BOB" and dm.text.startswith("Ihr Tocsin-Anmeldecode lautet ")
    assert signed.person["permissions"] == ["read", "remediate", "respond", "schedules", "windows"]
    assert fake_slack.violations == []
    await console.h.client.delete("/api/v1/session", headers=signed.headers)
    signed = await console.sign_in("carol")
    [sms] = fake_twilio.messages
    assert sms.to == "+4915100000003" and "sign-in code" in (sms.body or "")
    assert signed.person["name"] == "carol" and fake_twilio.violations == []


async def test_a_wrong_code_counts_down_and_the_last_wrong_one_voids_the_code(console: Console) -> None:
    code = await code_for(console, "alice")
    for left in (4, 3, 2, 1):
        r = await enter(console, "alice", wrong(code))
        assert r.status_code == 401 and r.json() == {"detail": "wrong code", "attempts_left": left}
    r = await enter(console, "alice", wrong(code))
    assert r.status_code == 429 and "ask for a new one" in r.json()["detail"]
    assert (await enter(console, "alice", code)).status_code == 401  # the right code is void now too
    assert COOKIE not in console.h.client.cookies


async def test_a_code_expires_after_code_ttl_and_a_new_one_replaces_the_previous(console: Console) -> None:
    code = await code_for(console, "alice")
    console.h.clock.advance(minutes=10)
    r = await enter(console, "alice", code)
    assert r.status_code == 401 and r.json()["detail"] == "code expired"
    first = await code_for(console, "alice")
    second = await code_for(console, "alice")
    if first != second:  # one in a million they are equal
        assert (await enter(console, "alice", first)).json()["attempts_left"] == 4
    assert (await enter(console, "alice", second)).status_code == 200


async def test_an_unknown_name_gets_the_same_answer_and_no_message(
        console: Console, fake_slack: FakeSlack, fake_twilio: FakeTwilio, caplog: pytest.LogCaptureFixture) -> None:
    known, unknown = await ask(console, "alice"), await ask(console, "mallory@example.com")
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json()) == (202, CODE_SENT)
    await console.h.app.state.signin.drain()
    assert len(console.inbox.mails) == 1 and fake_slack.top_level() == [] and fake_twilio.messages == []
    # entering codes behaves alike too: attempts are counted, nothing signs in
    r = await enter(console, "mallory@example.com", "123456")
    assert r.status_code == 401 and r.json() == {"detail": "wrong code", "attempts_left": 4}
    never = await enter(console, "nobody", "123456")
    assert never.status_code == 401 and "ask for a new one" in never.json()["detail"]
    console.inbox.mails.clear()
    # a responder without any sign-in channel: nothing is sent, and the log says why
    assert (await ask(console, "dave")).status_code == 202
    await console.h.app.state.signin.drain()
    assert console.inbox.mails == [] and "sign-in code for dave not sent" in caplog.text
    assert "DEV MODE" not in caplog.text and not re.search(r"\b\d{6}\b", caplog.text)  # the code is never logged


async def test_codes_are_rate_limited_per_name(console: Console) -> None:
    for _ in range(5):
        assert (await ask(console, "mallory")).status_code == 202
    r = await ask(console, "mallory")
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert (await ask(console, "alice")).status_code == 202  # other names are not held up
    console.h.clock.advance(minutes=15)
    assert (await ask(console, "mallory")).status_code == 202


MALFORMED = [
    ("/api/v1/session/code", {}),
    ("/api/v1/session/code", {"name": ""}),
    ("/api/v1/session/code", {"name": "a" * 321}),
    ("/api/v1/session/code", {"name": "alice\n"}),
    ("/api/v1/session/code", {"name": "alice", "extra": 1}),
    ("/api/v1/session/code", {"name": ["alice"]}),
    ("/api/v1/session", {"name": "alice"}),
    ("/api/v1/session", {"name": "alice", "code": "12ab56"}),
    ("/api/v1/session", {"name": "alice", "code": "1" * 20}),
    ("/api/v1/session", {"name": "alice", "code": 123456}),
]


async def test_malformed_bodies_are_422_and_oversized_ones_413_before_parsing(console: Console) -> None:
    for path, body in MALFORMED:
        r = await console.h.client.post(path, json=body)
        assert r.status_code == 422, (path, body, r.text)
    r = await console.h.client.post("/api/v1/session/code", content=b"name=alice",
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 422
    r = await console.h.client.post("/api/v1/session", json={"name": "alice", "code": "123456", "x": "y" * 5000})
    assert r.status_code == 413


async def test_changes_with_the_cookie_need_the_csrf_token_and_the_actor_is_the_person(console: Console) -> None:
    iid = await open_incident(console)
    signed = await console.sign_in("carol")
    client = console.h.client
    r = await client.post(f"/api/v1/incidents/{iid}/ack")
    assert r.status_code == 403 and r.json()["detail"] == "CSRF token missing or wrong"
    r = await client.post(f"/api/v1/incidents/{iid}/ack", headers={"X-CSRF-Token": signed.csrf[:-1] + "x"})
    assert r.status_code == 403
    r = await client.post(f"/api/v1/incidents/{iid}/ack",
                          headers={**signed.headers, "Origin": "https://evil.example"})
    assert r.status_code == 403 and "cross-origin" in r.json()["detail"]
    r = await client.post(f"/api/v1/incidents/{iid}/ack", json={"note": "on it"},
                          headers={**signed.headers, "Origin": "http://tocsin.test"})
    assert r.status_code == 200 and r.json()["by"] == "carol"
    detail = (await client.get(f"/api/v1/incidents/{iid}")).json()  # reads need no CSRF token
    assert detail["acked_by"] == "carol"
    assert detail["timeline"][-1]["kind"] == "acknowledged" and detail["timeline"][-1]["actor"] == "carol"


async def test_bearer_tokens_need_no_csrf_token_and_a_bad_one_is_401_even_beside_a_cookie(console: Console) -> None:
    iid = await open_incident(console)
    r = await console.h.client.post(f"/api/v1/incidents/{iid}/ack",
                                    headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert r.status_code == 200 and r.json()["by"] == "alice"
    signed = await console.sign_in("carol")
    r = await console.h.client.post(f"/api/v1/incidents/{iid}/ack",
                                    headers={**signed.headers, "Authorization": "Bearer not-a-token-0123456789"})
    assert r.status_code == 401


async def test_approving_needs_the_approve_role_and_windows_the_windows_role(console: Console) -> None:
    signed = await console.sign_in("carol")
    r = await console.h.client.post("/api/v1/runs/run-1/approve", headers=signed.headers)
    assert r.status_code == 403 and r.json()["detail"] == "carol lacks the 'approve' permission (console.roles)"
    await console.h.client.delete("/api/v1/session", headers=signed.headers)
    body = {"matchers": ['namespace="shop"'], "duration": "1h", "comment": "upgrade"}
    alice = await console.sign_in("alice")
    r = await console.h.client.post("/api/v1/windows", json=body, headers=alice.headers)
    assert r.status_code == 403 and "'windows' permission" in r.json()["detail"]
    await console.h.client.delete("/api/v1/session", headers=alice.headers)
    bob = await console.sign_in("bob")  # a member of team sre
    r = await console.h.client.post("/api/v1/windows", json=body, headers=bob.headers)
    assert r.status_code == 201 and r.json()["created_by"] == "bob"


async def test_signing_out_ends_the_session_and_unknown_cookies_sign_nobody_in(console: Console) -> None:
    signed = await console.sign_in("alice")
    client = console.h.client
    assert (await client.delete("/api/v1/session")).status_code == 403  # without the CSRF token
    r = await client.delete("/api/v1/session", headers=signed.headers)
    assert r.status_code == 204 and f'{COOKIE}=""' in r.headers["set-cookie"]
    client.cookies.set(COOKIE, signed.cookie)  # a copy of the old cookie is worth nothing now
    assert (await client.get("/api/v1/session")).status_code == 401
    assert (await client.get("/api/v1/incidents")).status_code == 401
    iid = 1
    r = await client.post(f"/api/v1/incidents/{iid}/ack", headers=signed.headers)
    assert r.status_code == 401
    for value in ("nope", "x" * 500):
        client.cookies.set(COOKIE, value)
        assert (await client.get("/api/v1/session")).status_code == 401
        r = await client.post("/api/v1/incidents/1/ack", headers={"X-CSRF-Token": "x"})
        assert r.status_code == 401


async def test_a_session_ends_after_session_ttl_and_retention_deletes_it(console: Console) -> None:
    from sqlalchemy import func, select

    from webhook.retention import Retention
    from webhook.signin.tables import console_sessions

    await console.sign_in("alice")
    console.h.clock.advance(hours=11, minutes=59)
    assert (await console.h.client.get("/api/v1/session")).status_code == 200
    console.h.clock.advance(minutes=1)
    assert (await console.h.client.get("/api/v1/session")).status_code == 401
    db = console.h.app.state.svc.db
    count = lambda conn: conn.execute(select(func.count()).select_from(console_sessions)).scalar_one()
    assert await db.read(count) == 1
    await Retention(db, console.h.cfg.incidents.retention).tick(console.h.clock())
    assert await db.read(count) == 0


async def test_the_cookie_is_secure_over_https(
        tmp_path: Path, smtp: tuple[Inbox, int], fake_slack: FakeSlack, fake_twilio: FakeTwilio) -> None:
    inbox, port = smtp
    cfg = signin_config(f"sqlite:///{tmp_path / 't.db'}", tmp_path, port, fake_slack, fake_twilio)
    async for c in start_console(cfg, inbox, fake_slack, fake_twilio, base_url="https://tocsin.test"):
        code = await code_for(c, "alice")
        r = await enter(c, "alice", code)
        assert "Secure" in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]
        assert (await c.h.client.get("/api/v1/session")).status_code == 200


def test_secure_cookies_decides_the_secure_flag() -> None:
    assert [secure_cookie(mode, scheme) for mode in ("auto", "always", "never") for scheme in ("http", "https")] \
        == [False, True, True, True, False, False]


async def test_sessions_live_in_the_database_shared_by_replicas_on_postgresql(
        fresh_pg_url: str, tmp_path: Path, smtp: tuple[Inbox, int], fake_slack: FakeSlack,
        fake_twilio: FakeTwilio) -> None:
    """Two apps on one database (two replicas): a session opened on one is good on the other, and ends on both."""
    inbox, port = smtp
    cfg = signin_config(fresh_pg_url, tmp_path, port, fake_slack, fake_twilio)
    async for one in start_console(cfg, inbox, fake_slack, fake_twilio):
        signed = await one.sign_in("alice")
        async for two in start_console(cfg, inbox, fake_slack, fake_twilio):
            two.h.client.cookies.set(COOKIE, signed.cookie)
            me = await two.h.client.get("/api/v1/session")
            assert me.status_code == 200 and me.json()["csrf"] == signed.csrf
            assert (await two.h.client.delete("/api/v1/session", headers=signed.headers)).status_code == 204
        assert (await one.h.client.get("/api/v1/session")).status_code == 401
