"""Sign-in with an OpenID Connect provider (the local fake): state, nonce, PKCE and the ID token's signature are
checked; the claim names a responder or the person gets a clear 403 page."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from tests.support.fake_oidc import FakeOidc
from tests.support.signin import COOKIE
from tests.webhook.signin.conftest import Console
from webhook.api.oidc import PENDING_COOKIE


async def to_provider_and_back(c: Console, fake: FakeOidc) -> str:
    """Start at Tocsin, follow the provider's redirect: the callback URL (with code and state) it sends back."""
    start = await c.h.client.get("/auth/oidc/login")
    assert start.status_code == 302 and PENDING_COOKIE in start.headers["set-cookie"]
    pending = start.headers["set-cookie"]
    assert "HttpOnly" in pending and "SameSite=lax" in pending and "Path=/auth/oidc" in pending
    async with httpx.AsyncClient() as browser:
        back = await browser.get(start.headers["location"])
    assert back.status_code == 302 and fake.problems == [], (back.text, fake.problems)
    return back.headers["location"]


async def test_signing_in_with_the_provider_sets_the_session_cookie_and_unknown_people_get_a_403_page(
        oidc_console: Console, fake_oidc: FakeOidc) -> None:
    c = oidc_console
    callback = await to_provider_and_back(c, fake_oidc)
    assert callback.startswith("http://tocsin.test/auth/oidc/callback?")
    r = await c.h.client.get(callback)
    assert r.status_code == 303 and r.headers["location"] == "/console/", r.text
    assert COOKIE in c.h.client.cookies and "SameSite=strict" in r.headers["set-cookie"]
    me = (await c.h.client.get("/api/v1/session")).json()
    assert me["person"]["name"] == "alice" and fake_oidc.problems == []

    fake_oidc.user = {"sub": "u-eve", "email": "eve@example.com"}
    r = await c.h.client.get(await to_provider_and_back(c, fake_oidc))
    assert r.status_code == 403 and "matches no responder" in r.text and "eve@example.com" in r.text
    assert r.headers["content-security-policy"].startswith("default-src 'none'")


async def test_the_callback_is_refused_for_a_wrong_state_a_wrong_nonce_or_a_bad_signature(
        oidc_console: Console, fake_oidc: FakeOidc) -> None:
    c = oidc_console
    callback = urlsplit(await to_provider_and_back(c, fake_oidc))
    query = parse_qs(callback.query)
    r = await c.h.client.get("/auth/oidc/callback", params={"code": query["code"][0], "state": "forged-state"})
    assert r.status_code == 400 and "state does not match" in r.text

    fake_oidc.tamper = "nonce"
    r = await c.h.client.get(await to_provider_and_back(c, fake_oidc))
    assert r.status_code == 400 and "ID token was refused" in r.text and "nonce" in r.text

    fake_oidc.tamper = "signature"
    r = await c.h.client.get(await to_provider_and_back(c, fake_oidc))
    assert r.status_code == 400 and "ID token was refused" in r.text and "BadSignature" in r.text

    c.h.client.cookies.delete(PENDING_COOKIE, domain="tocsin.test", path="/auth/oidc")
    fake_oidc.tamper = None
    r = await c.h.client.get("/auth/oidc/callback", params={"code": "c", "state": "s"})
    assert r.status_code == 400 and "not started here" in r.text
    assert (await c.h.client.get("/auth/oidc/callback", params={"error": "access_denied"})).status_code == 400
    assert (await c.h.client.get("/auth/oidc/callback", params={"code": "x" * 5000, "state": "s"})).status_code == 422
    assert COOKIE not in c.h.client.cookies  # nothing of the above signed anyone in


async def test_without_console_oidc_its_endpoints_are_404(console: Console) -> None:
    assert (await console.h.client.get("/auth/oidc/login")).status_code == 404
    assert (await console.h.client.get("/auth/oidc/callback", params={"code": "c", "state": "s"})).status_code == 404
