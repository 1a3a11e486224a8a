"""Request bodies of the API are bounded, and refused unauthenticated before they are read (review finding 10).

FastAPI reads and parses a route's body before its dependencies (the token check) run, so without this an
unauthenticated client could make the service buffer any amount of data. This ASGI middleware answers 401 for
an /api/ request with a body but no valid API token or console session (cookie), 413 for a body over
`server.max_api_body_bytes` (by its Content-Length, or while it streams), and otherwise hands the app the body it
read. The sign-in endpoints (PUBLIC) take no credentials; their bodies are bounded by PUBLIC_BODY_BYTES.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from fastapi import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webhook.api.deps import UNAUTHENTICATED, console_session
from webhook.auth import check_api
from webhook.service import Service

_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Endpoints whose body is their credential (a signed token, checked by the route): bounded, not refused here.
OWN_CREDENTIAL = frozenset({"/api/v1/push/ack"})
#: Sign-in (asking for a code, entering it): anyone may send these, but only small bodies.
PUBLIC = frozenset({("POST", "/api/v1/session/code"), ("POST", "/api/v1/session")})
PUBLIC_BODY_BYTES = 2048


class ApiGuard:
    def __init__(self, app: ASGIApp, service: Callable[[], Service]) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        svc = self.service()
        public = (scope["method"], scope["path"]) in PUBLIC
        if scope["path"] not in OWN_CREDENTIAL and not public and \
                check_api(svc.creds, headers.get(b"authorization", b"").decode("latin-1")) is None:
            refused = 401 if b"authorization" in headers else await _no_session(scope)
            if refused:
                await _reply(send, refused, {"detail": UNAUTHENTICATED if refused == 401 else "storage unavailable"},
                             [(b"www-authenticate", b'Bearer realm="tocsin-api"')])
                return
        limit = PUBLIC_BODY_BYTES if public else svc.cfg.server.max_api_body_bytes
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _reply(send, 413, {"detail": f"request body larger than {limit} bytes"})
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit:
                await _reply(send, 413, {"detail": f"request body larger than {limit} bytes"})
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)


async def _no_session(scope: Scope) -> int:
    """0 when the request carries a live console session cookie (the route checks its CSRF token), else the
    status to answer: 401, or 503 when the database cannot tell."""
    try:
        return 0 if await console_session(Request(scope)) is not None else 401
    except HTTPException as exc:
        return exc.status_code


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect as the app expects

    return replay


async def _reply(send: Send, status: int, body: dict[str, object],
                 extra: list[tuple[bytes, bytes]] | None = None) -> None:
    data = orjson.dumps(body)
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": data})
