"""POST /webhook/alertmanager: authenticate, bound, validate, commit, then answer.

The handler is plain ASGI: `WebhookFastPath` wraps the whole FastAPI app (webhook.app.build_asgi, used by
`tocsin serve` and the tests alike), because this is the hot path of an alert storm and needs none of the
framework's routing, dependency injection or middleware. The endpoint is described in the OpenAPI schema by
`OPENAPI` (no FastAPI route serves it).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from webhook import metrics
from webhook.auth import check_webhook
from webhook.ingest.payload import PayloadError
from webhook.ingest.prepare import decode
from webhook.service import Service
from webhook.store.db import DataRefused, StorageFailed, StorageUnavailable

PATH = "/webhook/alertmanager"
Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]


# labelled children looked up once: this is the per-request path of an alert storm
_STORED, _FIRING, _RESOLVED = (metrics.WEBHOOK_REQUESTS.labels("200"), metrics.ALERTS_RECEIVED.labels("firing"),
                               metrics.ALERTS_RECEIVED.labels("resolved"))
_LATENCY = metrics.REQUEST_LATENCY.labels(PATH, "POST")


def _answer(status: int, body: dict[str, object], headers: list[tuple[bytes, bytes]] | None = None) -> Answer:
    (_STORED if status == 200 else metrics.WEBHOOK_REQUESTS.labels(str(status))).inc()
    return status, orjson.dumps(body), headers or []


async def handle(svc: Service, authorization: str | None, declared_length: str | None,
                 chunks: AsyncIterator[bytes]) -> Answer:
    """Everything the webhook does, independent of the web framework."""
    if not check_webhook(svc.creds, authorization):
        return _answer(401, {"error": "unauthorized", "message": "send Alertmanager's bearer token or basic auth"},
                       [(b"www-authenticate", b'Bearer realm="tocsin-webhook"')])
    limit = svc.cfg.server.max_body_bytes
    if declared_length is not None and declared_length.isdigit() and int(declared_length) > limit:
        return _answer(413, {"error": "payload too large", "limit_bytes": limit})
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            return _answer(413, {"error": "payload too large", "limit_bytes": limit})
        parts.append(chunk)
    body = b"".join(parts)
    metrics.PAYLOAD_BYTES.observe(len(body))
    try:
        prepared = decode(body, svc.cfg)
    except PayloadError as exc:
        return _answer(422, {"error": "invalid payload", "problems": exc.problems})
    try:
        await svc.ingestor.submit(prepared)
    except DataRefused:  # the database refuses this payload's values: retrying it cannot help (logged by ingest)
        return _answer(422, {"error": "payload refused by the database", "problems": [
            {"field": "<body>", "message": "a value of this payload cannot be stored; see the service log"}]})
    except StorageFailed:  # the driver's text (host, role...) goes to the log, not to the caller
        return _answer(503, {"error": "storage unavailable", "message": "the database did not store the alerts"},
                       [(b"retry-after", b"5")])
    except StorageUnavailable as exc:  # our own reasons: a timeout, a full queue, the ingest process restarting
        return _answer(503, {"error": "storage unavailable", "message": str(exc)[:300]}, [(b"retry-after", b"5")])
    n = len(prepared.alerts)
    firing = sum(1 for a in prepared.alerts if a.status == "firing")
    if firing:
        _FIRING.inc(firing)
    if n - firing:
        _RESOLVED.inc(n - firing)
    return _answer(200, {"status": "stored", "alerts": n})


class WebhookFastPath:
    """ASGI wrapper answering POST /webhook/alertmanager itself, outside the app and all its middleware (it
    records its own latency); everything else goes to the app."""

    def __init__(self, app: ASGIApp, service: Callable[[], Service]) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        try:
            await self._answer(scope, receive, send)
        finally:
            _LATENCY.observe(time.perf_counter() - start)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        auth = length = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value.decode("latin-1")
            elif name == b"content-length":
                length = value.decode("latin-1")
        status, body, headers = await handle(self.service(), auth, length, _body(receive))
        await _send(send, status, body, headers)


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    base = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": base + headers})
    await send({"type": "http.response.body", "body": body})


#: The endpoint's entry in the OpenAPI schema (webhook.app adds it; the wrapper above serves it).
OPENAPI = {"post": {
    "summary": "Receive an Alertmanager webhook (payload version 4)",
    "description": "Authenticate (bearer token or basic auth), bound the body, validate, commit, then answer.",
    "operationId": "receive_webhook_alertmanager_post",
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
    "responses": {
        "200": {"description": "Alerts committed to storage"},
        "401": {"description": "Missing or wrong credentials"},
        "413": {"description": "Body larger than server.max_body_bytes"},
        "422": {"description": "Not JSON or not an Alertmanager v4 payload; `problems` names the fields"},
        "503": {"description": "Storage unavailable; Alertmanager retries"},
    },
}}
