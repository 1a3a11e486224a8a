"""POST /slack/interactions: signed clicks (Acknowledge, Resolve, Snooze 1h, Approve/Reject) by whom the responder
policy (`channels.responder_policy`) lets act: mapped responders, or with `any_slack_user` any workspace member."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from webhook.api.common import NOT_A_RESPONDER_SLACK, TooLarge, act_as, answer, read_capped, refuse, slack_actor
from webhook.incidents.model import NotFound
from webhook.notifiers.base import SignatureError
from webhook.notifiers.slack.interactions import (
    MAX_INTERACTION_BYTES,
    ApprovalClick,
    FeedbackClick,
    InteractionError,
    parse_approval,
    parse_feedback,
    parse_interaction,
)
from webhook.notifiers.slack.signature import verify_slack_signature
from webhook.remediation.approvals import decide
from webhook.remediation.service import Remediation
from webhook.report.repo import set_feedback
from webhook.service import Service
from webhook.store.db import StorageUnavailable

router = APIRouter(tags=["callbacks"])


async def _approval(request: Request, svc: Service, click: ApprovalClick) -> Response:
    rem: Remediation | None = getattr(request.app.state, "remediation", None)
    if rem is None:
        return answer(404, {"error": "remediation is not enabled"})
    try:
        text = await decide(svc.cfg, rem, click, slack_actor(svc.cfg, click.slack_user_id))
    except StorageUnavailable:
        return answer(503, {"error": "storage unavailable"})
    return answer(200, {"response_type": "ephemeral", "replace_original": False, "text": text})


async def _feedback(svc: Service, click: FeedbackClick) -> Response:
    """Stored under the responder's name (or `slack:<id>` under `any_slack_user`), like every other action."""
    who = slack_actor(svc.cfg, click.slack_user_id)
    try:
        if who is None:
            await refuse(svc, click.incident_id, "feedback", "slack", f"slack:{click.slack_user_id}",
                         NOT_A_RESPONDER_SLACK)
            text = f"not recorded: {NOT_A_RESPONDER_SLACK}"
        else:
            await svc.db.write(set_feedback, click.incident_id, who, click.actionable, "slack", svc.clock())
            text = "thanks: recorded as " + ("actionable" if click.actionable else "not actionable")
    except NotFound:
        text = "unknown incident"
    except StorageUnavailable:
        return answer(503, {"error": "storage unavailable"})
    return answer(200, {"response_type": "ephemeral", "replace_original": False,
                        "text": f"T-{click.incident_id}: {text}"})


@router.post("/slack/interactions", summary="Slack interactivity request URL (signed with the signing secret)")
async def interactions(request: Request) -> Response:
    svc: Service = request.app.state.svc
    slack = svc.cfg.channels.slack
    if slack is None:
        return answer(404, {"error": "slack is not configured"})
    try:
        body = await read_capped(request, MAX_INTERACTION_BYTES)
    except TooLarge:
        return answer(413, {"error": "body too large"})
    try:
        verify_slack_signature(slack.signing_secret, request.headers.get("x-slack-request-timestamp"), body,
                               request.headers.get("x-slack-signature"), svc.clock().timestamp())
    except SignatureError as exc:
        return answer(401, {"error": exc.reason})
    try:
        click = parse_approval(body)
    except InteractionError as exc:
        return answer(400, {"error": str(exc)[:200]})
    if click is not None:
        return await _approval(request, svc, click)
    try:
        fb = parse_feedback(body)
    except InteractionError as exc:
        return answer(400, {"error": str(exc)[:200]})
    if fb is not None:
        return await _feedback(svc, fb)
    try:
        it = parse_interaction(body)
        incident_id = int(it.incident_id)
    except (InteractionError, ValueError) as exc:
        return answer(400, {"error": str(exc)[:200]})
    who = slack_actor(svc.cfg, it.slack_user_id)
    try:
        if who is None:
            await refuse(svc, incident_id, it.action.value, "slack", f"slack:{it.slack_user_id}", NOT_A_RESPONDER_SLACK)
            outcome = f"not changed: you may not {it.action.value} incidents from Slack, {NOT_A_RESPONDER_SLACK}"
        else:
            outcome = await act_as(svc, incident_id, it.action.value, who, "via slack", it.snooze_seconds)
    except StorageUnavailable:
        return answer(503, {"error": "storage unavailable"})
    # the message itself is updated through the outbox (chat.update), like every other channel
    return answer(200, {"response_type": "ephemeral", "replace_original": False, "text": f"T-{incident_id}: {outcome}"})
