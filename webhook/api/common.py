"""Helpers shared by the vendor callback routers: a capped body reader, JSON answers, incident actions taken
as a responder."""

from __future__ import annotations

from datetime import timedelta

import orjson
from fastapi import Request, Response

from webhook.incidents import actions as repo
from webhook.incidents.model import NotFound, TransitionError
from webhook.service import Service


class TooLarge(Exception):
    """The body is larger than the endpoint accepts."""


async def read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def answer(status: int, body: dict[str, object]) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


async def act_as(svc: Service, incident_id: int, action: str, actor: str, note: str,
                 until_seconds: int | None = None) -> str:
    """Apply the action through the same path as the API (hooks included); a short outcome for the human."""
    now = svc.clock()
    until = now + timedelta(seconds=until_seconds) if until_seconds else None
    try:
        res = await svc.db.write(repo.act, incident_id, action, actor, now, until, note, svc.hooks)
    except NotFound:
        return "unknown incident"
    except TransitionError as exc:
        return str(exc)
    return str(res["state"])
