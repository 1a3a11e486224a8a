"""Shared dependencies of the API routers: the service and the authenticated actor with the scope it needs.

The actor is an API token (`Authorization: Bearer ...`, machines) or a person signed in to the console (the
`tocsin_session` cookie, webhook/signin); either way the dependency returns a name: the token's or the
responder's. Changes made with the cookie must carry the session's CSRF token (X-CSRF-Token).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from webhook.auth import check_api
from webhook.config import ApiScope
from webhook.service import Service
from webhook.signin.service import Session, SignIn
from webhook.signin.tokens import same
from webhook.store.db import StorageUnavailable

UNAUTHENTICATED = "send an API token as 'Authorization: Bearer <token>' or sign in to the console"
SESSION_COOKIE = "tocsin_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_UNSET = object()


def service(request: Request) -> Service:
    svc: Service = request.app.state.svc
    return svc


def sign_in(request: Request) -> SignIn:
    s: SignIn = request.app.state.signin
    return s


def unauthenticated(detail: str = UNAUTHENTICATED) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer realm="tocsin-api"'})


def forbidden(name: str, scope: ApiScope) -> HTTPException:
    return HTTPException(403, f"API token {name!r} lacks the {scope!r} scope (auth.api_tokens[].scopes)")


async def console_session(request: Request) -> Session | None:
    """The console session of the request's cookie (looked up once per request), None without a live one."""
    cached = getattr(request.state, "console_session", _UNSET)
    if cached is not _UNSET:
        return cached  # type: ignore[return-value]
    value = request.cookies.get(SESSION_COOKIE)
    try:
        found = await sign_in(request).session(value) if value else None
    except StorageUnavailable as exc:
        raise HTTPException(503, "storage unavailable") from exc
    request.state.console_session = found
    return found


def own_origins(request: Request) -> set[str]:
    """The origins this service is reached at: the request's own and server.public_url's."""
    origins = {f"{request.url.scheme}://{request.url.netloc}"}
    public = service(request).cfg.server.public_url.rstrip("/")
    if public:
        scheme, _, rest = public.partition("://")
        origins.add(f"{scheme}://{rest.split('/', 1)[0]}")
    return origins


def check_csrf(request: Request, session: Session) -> None:
    """A change made with the session cookie: the CSRF token must match, and the Origin (when sent) be ours."""
    if request.method in SAFE_METHODS:
        return
    token = request.headers.get(CSRF_HEADER, "")
    if not token or not same(token, session.csrf):
        raise HTTPException(403, "CSRF token missing or wrong")
    origin = request.headers.get("origin")
    if origin is not None and origin not in own_origins(request):
        raise HTTPException(403, f"cross-origin request from {origin[:100]!r} refused")


def scoped(scope: ApiScope) -> Callable[[Request], Awaitable[str]]:
    """A dependency: the actor's name if it may do `scope`; 401 or 403 if not. An API token needs the scope, a
    signed-in person the permission (console.roles). Webhook tokens are not accepted here."""

    async def actor(request: Request) -> str:
        header = request.headers.get("authorization")
        if header:
            key = check_api(service(request).creds, header)
            if key is None:
                raise unauthenticated()
            if scope not in key.scopes:
                raise forbidden(key.name, scope)
            return key.name
        session = await console_session(request)
        if session is None:
            raise unauthenticated()
        check_csrf(request, session)
        if scope not in session.person.permissions:
            raise HTTPException(403, f"{session.person.name} lacks the {scope!r} permission (console.roles)")
        return session.person.name

    actor.__name__ = f"actor_with_{scope}_scope"
    return actor


ServiceDep = Annotated[Service, Depends(service)]
SignInDep = Annotated[SignIn, Depends(sign_in)]
#: The actor of a GET of incidents, runs, runbooks or audit (scope `read`).
ActorDep = Annotated[str, Depends(scoped("read"))]
#: The actor of an ack, resolve or snooze (scope `respond`).
ResponderDep = Annotated[str, Depends(scoped("respond"))]
#: The actor of a run abort (scope `remediate`).
RemediatorDep = Annotated[str, Depends(scoped("remediate"))]
#: The actor of an approval or rejection of a waiting step (scope `approve`, then remediation.approvals).
ApproverDep = Annotated[str, Depends(scoped("approve"))]
#: The actor creating or ending a maintenance window (scope `windows`).
WindowsDep = Annotated[str, Depends(scoped("windows"))]
#: The actor of a schedule override or swap (scope `schedules`).
SchedulesDep = Annotated[str, Depends(scoped("schedules"))]
