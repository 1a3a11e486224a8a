"""Console sign-in with an OpenID Connect provider (console.oidc): /auth/oidc/login sends the browser there,
/auth/oidc/callback takes it back, checks everything and sets the same session cookie as a one-time code."""

from __future__ import annotations

import html
import logging
import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from webhook.api.deps import SignInDep, service
from webhook.api.session import secure_cookie, set_session_cookie
from webhook.signin.oidc import PENDING_SECONDS, OidcError, OidcProvider, Pending
from webhook.signin.service import SignIn
from webhook.signin.tokens import same
from webhook.store.db import StorageUnavailable

log = logging.getLogger(__name__)
router = APIRouter(prefix="/auth/oidc", tags=["session"])

PENDING_COOKIE = "tocsin_oidc"
CALLBACK = "/auth/oidc/callback"
#: Pages of this router load nothing and run nothing.
_HEADERS = {"Content-Security-Policy": "default-src 'none'; base-uri 'none'; form-action 'none'; "
                                       "frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
Param = Annotated[str | None, Query(max_length=4096)]


def _provider(signin: SignIn) -> OidcProvider:
    if signin.oidc is None:
        raise HTTPException(404, "OIDC sign-in is not configured (console.oidc)")
    return signin.oidc


def redirect_uri(request: Request, signin: SignIn) -> str:
    """console.oidc.redirect_url, else server.public_url's origin, else this request's, + the callback path."""
    assert signin.oidc is not None
    if signin.oidc.cfg.redirect_url:
        return signin.oidc.cfg.redirect_url
    public = service(request).cfg.server.public_url.rstrip("/")
    return (public or f"{request.url.scheme}://{request.url.netloc}") + CALLBACK


def page(status: int, title: str, text: str) -> HTMLResponse:
    body = (f'<!doctype html><html lang="en"><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
            '<p><a href="/console/">Back to the console</a></p></html>')
    return HTMLResponse(body, status, headers=_HEADERS)


@router.get("/login", summary="Start signing in with the OIDC provider (302 to it)")
async def login(request: Request, signin: SignInDep) -> Response:
    provider = _provider(signin)
    try:
        url, pending = await provider.start(redirect_uri(request, signin))
    except OidcError as exc:
        log.warning("oidc sign-in could not start: %s", exc)
        return page(502, "Sign-in failed", str(exc))
    response = RedirectResponse(url, 302, headers={"Cache-Control": "no-store"})
    # Lax, not Strict: the provider sends the browser back with a cross-site navigation that must carry it
    response.set_cookie(PENDING_COOKIE, pending.encode(), max_age=PENDING_SECONDS, path="/auth/oidc",
                        httponly=True, samesite="lax",
                        secure=secure_cookie(signin.console.secure_cookies, request.url.scheme))
    return response


@router.get("/callback", summary="The provider's redirect back: checks it and sets the session cookie (303)")
async def callback(request: Request, signin: SignInDep, code: Param = None, state: Param = None,
                   error: Param = None) -> Response:
    provider = _provider(signin)
    if error is not None:
        return page(400, "Sign-in failed", f"The identity provider answered: {error[:200]}")
    if not code or not state:
        return page(400, "Sign-in failed", "The identity provider's answer lacks code or state.")
    try:
        pending = Pending.decode(request.cookies.get(PENDING_COOKIE, ""), time.time())
        if not same(state, pending.state):
            raise OidcError("the state does not match the sign-in started in this browser")
        claims = await provider.finish(code, redirect_uri(request, signin), pending)
    except OidcError as exc:
        log.warning("oidc sign-in refused: %s", exc)
        return page(400, "Sign-in failed", f"{exc}. Start again from the console.")
    claim = provider.cfg.match_claim
    value = claims.get(claim)
    person = signin.by_claim(claim, value) if isinstance(value, str) and value else None
    if person is None:
        log.warning("oidc sign-in of an unknown person (claim %s)", claim)
        return page(403, "Not a responder", f"The identity provider signed you in, but its {claim} claim "
                    f"({str(value)[:200]!r}) matches no responder in oncall.responders. Ask an administrator "
                    f"to add it.")
    try:
        opened = await signin.open_session(person, "oidc", request.headers.get("user-agent", ""))
    except StorageUnavailable:
        return page(503, "Sign-in failed", "The database is unavailable; try again in a moment.")
    response = RedirectResponse("/console/", 303, headers={"Cache-Control": "no-store"})
    set_session_cookie(response, request, signin, opened)
    response.delete_cookie(PENDING_COOKIE, path="/auth/oidc", httponly=True, samesite="lax")
    return response
