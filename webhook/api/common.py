"""Helpers shared by the vendor callback routers: a capped body reader, JSON answers, the responder policy
(who may act from Slack, SMS and calls), incident actions taken as a responder, refusals on the timeline."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import orjson
from fastapi import HTTPException, Request, Response

from webhook import metrics
from webhook.config import TocsinConfig
from webhook.config.oncall import Responder
from webhook.incidents import actions as repo
from webhook.incidents.model import NotFound, TransitionError
from webhook.incidents.queries import incident_rows
from webhook.incidents.timeline import add_events
from webhook.service import Service
from webhook.store.db import Connection, StorageUnavailable

MAX_ID = 2**63  # incident ids are BIGINT
#: Why a callback was refused, as said to the person and written on the timeline.
NOT_A_RESPONDER_SLACK = "your Slack user is not mapped to a Tocsin responder (oncall.responders[].slack_user)"
NOT_A_RESPONDER_PHONE = "this number is not a Tocsin responder"


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


def slack_actor(cfg: TocsinConfig, slack_user_id: str) -> str | None:
    """Who a signed Slack click acts as under `channels.responder_policy`; None when the policy refuses it.

    A mapped responder acts under their name; any other workspace member only with `any_slack_user`, as
    `slack:<user id>` (the timeline then shows exactly whom Slack vouched for).
    """
    name = next((r.name for r in cfg.oncall.responders if r.slack_user == slack_user_id), None)
    if name is None and cfg.channels.responder_policy == "any_slack_user":
        return f"slack:{slack_user_id}"
    return name


def phone_responder(cfg: TocsinConfig, number: str) -> Responder | None:
    """The responder an SMS or call is from or to: always a mapped responder, whatever the policy."""
    return next((r for r in cfg.oncall.responders if r.phone and r.phone == number), None)


async def refuse(svc: Service, incident_id: int | None, action: str, channel: str, who: str, reason: str) -> None:
    """A refused action goes on the incident's timeline (who tried what, and why), if that incident exists."""
    if incident_id is None or not 0 < incident_id < MAX_ID:
        return  # no incident named (or none that can exist): nothing to record it on
    detail = {"action": action, "channel": channel, "from": who[:200], "reason": reason}
    await svc.db.write(record_refusal, incident_id, svc.clock(), detail)


def record_refusal(conn: Connection, incident_id: int, now: datetime, detail: dict[str, Any]) -> bool:
    if not incident_rows(conn, [incident_id]):
        return False
    add_events(conn, [(incident_id, now, "action_refused", detail)])
    return True


@contextmanager
def incident_errors(incident_id: int) -> Iterator[None]:
    """An API action on an incident: unknown 404, not possible in its state 409, storage down 503."""
    try:
        yield
    except NotFound as exc:
        raise HTTPException(404, f"incident {incident_id} not found") from exc
    except TransitionError as exc:
        raise HTTPException(409, str(exc)) from exc
    except StorageUnavailable as exc:
        raise HTTPException(503, "storage unavailable") from exc


def action_answer(incident_id: int, who: str, now: datetime, res: dict[str, Any]) -> dict[str, Any]:
    """What an ack, resolve or snooze endpoint answers (and the time-to-ack metric of a first ack)."""
    if res.get("first_ack"):
        metrics.INCIDENT_TIME_TO_ACK.labels("all").observe((now - res["opened_at"]).total_seconds())
    return {"id": incident_id, "state": res["state"], "changed": res["changed"], "by": who}


async def api_action(svc: Service, incident_id: int, action: str, who: str, note: str,
                     until: datetime | None = None) -> dict[str, Any]:
    """An ack, resolve or snooze through the API (token, session or push token): 404, 409, 503 as HTTP errors;
    the answer every such endpoint gives."""
    now = svc.clock()
    with incident_errors(incident_id):
        res = await svc.db.write(repo.act, incident_id, action, who, now, until, note, svc.hooks)
    return action_answer(incident_id, who, now, res)
