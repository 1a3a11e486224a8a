"""Request bodies of the API are bounded, and refused unauthenticated before they are read (review finding 10).

FastAPI reads and parses a route's body before its dependencies (the token check) run, so without this an
unauthenticated client could make the service buffer any amount of data. This ASGI middleware answers 401 for
an /api/ request with a body but no valid API token, 413 for a body over `server.max_api_body_bytes` (by its
Content-Length, or while it streams), and otherwise hands the app the body it read.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webhook.auth import check_api
from webhook.service import Service

_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ApiGuard:
    def __init__(self, app: ASGIApp, service: Callable[[], Service]) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        svc = self.service()
        if check_api(svc.creds, headers.get(b"authorization", b"").decode("latin-1")) is None:
            await _reply(send, 401, {"detail": "send an API token as 'Authorization: Bearer <token>'"},
                         [(b"www-authenticate", b'Bearer realm="tocsin-api"')])
            return
        limit = svc.cfg.server.max_api_body_bytes
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
