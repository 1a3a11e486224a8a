"""POST /webhook/alertmanager: authenticate, bound, validate, commit, then answer."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request, Response

from webhook import metrics
from webhook.auth import check_webhook
from webhook.ingest import prepare
from webhook.payload import PayloadError, parse_payload
from webhook.service import Service
from webhook.store.db import StorageUnavailable

router = APIRouter()


def _json(status: int, body: dict[str, object], headers: dict[str, str] | None = None) -> Response:
    metrics.WEBHOOK_REQUESTS.labels(str(status)).inc()
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


class _TooLarge(Exception):
    pass


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/webhook/alertmanager",
    summary="Receive an Alertmanager webhook (payload version 4)",
    responses={
        200: {"description": "Alerts committed to storage"},
        401: {"description": "Missing or wrong credentials"},
        413: {"description": "Body larger than server.max_body_bytes"},
        422: {"description": "Not JSON or not an Alertmanager v4 payload; `problems` names the fields"},
        503: {"description": "Storage unavailable; Alertmanager retries"},
    },
)
async def receive(request: Request) -> Response:
    svc: Service = request.app.state.svc
    if not check_webhook(svc.creds, request.headers.get("authorization")):
        return _json(401, {"error": "unauthorized", "message": "send Alertmanager's bearer token or basic auth"},
                     {"WWW-Authenticate": 'Bearer realm="tocsin-webhook"'})
    limit = svc.cfg.server.max_body_bytes
    try:
        body = await _read_capped(request, limit)
    except _TooLarge:
        return _json(413, {"error": "payload too large", "limit_bytes": limit})
    metrics.PAYLOAD_BYTES.observe(len(body))
    try:
        payload = parse_payload(body)
    except PayloadError as exc:
        return _json(422, {"error": "invalid payload", "problems": exc.problems})
    try:
        await svc.ingestor.submit(prepare(payload, svc.cfg))
    except StorageUnavailable as exc:
        return _json(503, {"error": "storage unavailable", "message": str(exc)[:300]}, {"Retry-After": "5"})
    firing = sum(1 for a in payload.alerts if a.status == "firing")
    if firing:
        metrics.ALERTS_RECEIVED.labels("firing").inc(firing)
    if len(payload.alerts) - firing:
        metrics.ALERTS_RECEIVED.labels("resolved").inc(len(payload.alerts) - firing)
    return _json(200, {"status": "stored", "alerts": len(payload.alerts)})
