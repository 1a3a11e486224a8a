"""Slack interactivity (POST /slack/interactions): a verified button click parsed into an incident action or a
runbook approval."""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from webhook.notifiers.slack.notifier import (
    ACTION_ACK,
    ACTION_APPROVE,
    ACTION_FEEDBACK_NO,
    ACTION_FEEDBACK_YES,
    ACTION_REJECT,
    ACTION_RESOLVE,
    ACTION_SNOOZE,
    SNOOZE_SECONDS,
)

MAX_INTERACTION_BYTES = 1024 * 1024


_ACTIONS = {ACTION_ACK: "ack", ACTION_RESOLVE: "resolve", ACTION_SNOOZE: "snooze"}


_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


_SLACK_ID = re.compile(r"^[A-Z0-9]{2,32}$")


class InteractionAction(enum.StrEnum):
    ACK = "ack"
    RESOLVE = "resolve"
    SNOOZE = "snooze"


class InteractionError(ValueError):
    """The interaction payload is not one we act on; the message says why (safe to return in a 400)."""


@dataclass(frozen=True, slots=True)
class Interaction:
    action: InteractionAction
    incident_id: str
    slack_user_id: str
    slack_user_name: str | None = None
    response_url: str | None = None
    channel_id: str | None = None
    message_ts: str | None = None
    snooze_seconds: int | None = None


def parse_interaction(form_body: bytes, *, response_url_prefix: str = "https://hooks.slack.com/") -> Interaction:
    """Parse the `payload=` form field Slack posts for a button click. Verify the signature first."""
    if len(form_body) > MAX_INTERACTION_BYTES:
        raise InteractionError("interaction body too large")
    try:
        form = parse_qs(form_body.decode("utf-8"), strict_parsing=True, max_num_fields=10)
        (raw,) = form["payload"]
        payload = json.loads(raw)
    except (UnicodeDecodeError, ValueError, KeyError) as exc:
        raise InteractionError(f"malformed interaction body: {type(exc).__name__}") from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        raise InteractionError("unsupported interaction type")
    action = _known_action(payload.get("actions"))
    user = _dict(payload.get("user"))
    user_id = user.get("id")
    if not isinstance(user_id, str) or not _SLACK_ID.match(user_id):
        raise InteractionError("interaction without a valid user id")
    container = _dict(payload.get("container"))
    response_url = payload.get("response_url")
    kind = InteractionAction(_ACTIONS[action["action_id"]])
    return Interaction(
        action=kind,
        incident_id=action["value"],
        slack_user_id=user_id,
        slack_user_name=_str_or_none(user.get("username") or user.get("name")),
        # response_url is where the API layer may post back: never follow one that is not Slack's
        response_url=response_url if isinstance(response_url, str)
        and response_url.startswith(response_url_prefix) else None,
        channel_id=_str_or_none(container.get("channel_id")),
        message_ts=_str_or_none(container.get("message_ts")),
        snooze_seconds=SNOOZE_SECONDS if kind is InteractionAction.SNOOZE else None,
    )


_VALUE = re.compile(r"^(\d{1,17}):(\d{1,6})$")


@dataclass(frozen=True, slots=True)
class ApprovalClick:
    approved: bool
    run_id: str
    step: int
    slack_user_id: str


def _block_action(form_body: bytes, ids: tuple[str, ...]) -> tuple[dict[str, Any], str | None] | None:
    """The first action with one of `ids` in a verified block_actions body, with the clicking user's id (None
    when absent); None for any other body (another parser's job)."""
    try:
        (raw,) = parse_qs(form_body.decode("utf-8"), strict_parsing=True, max_num_fields=10)["payload"]
        payload = json.loads(raw)
    except (UnicodeDecodeError, ValueError, KeyError):
        return None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    actions = payload.get("actions")
    if not isinstance(actions, list):
        return None
    for action in actions:
        if isinstance(action, dict) and action.get("action_id") in ids:
            user = payload.get("user")
            user_id = user.get("id") if isinstance(user, dict) else None
            valid = isinstance(user_id, str) and _SLACK_ID.match(user_id) is not None
            return action, user_id if valid else None
    return None


def parse_approval(form_body: bytes) -> ApprovalClick | None:
    """The approval button of a verified interaction body; None for any other body (the incident parser's job)."""
    found = _block_action(form_body, (ACTION_APPROVE, ACTION_REJECT))
    if found is None:
        return None
    action, user_id = found
    value = _VALUE.match(str(action.get("value", "")))
    if value is None or user_id is None:
        raise InteractionError("approval without a valid run, step or user")
    return ApprovalClick(action["action_id"] == ACTION_APPROVE, value[1], int(value[2]), user_id)


@dataclass(frozen=True, slots=True)
class FeedbackClick:
    """"Was this actionable?" answered on a resolved incident's message (alert-quality report)."""

    actionable: bool
    incident_id: int
    slack_user_id: str


def parse_feedback(form_body: bytes) -> FeedbackClick | None:
    """The feedback button of a verified interaction body; None for any other body."""
    found = _block_action(form_body, (ACTION_FEEDBACK_YES, ACTION_FEEDBACK_NO))
    if found is None:
        return None
    action, user_id = found
    value = str(action.get("value", ""))
    if not re.fullmatch(r"\d{1,18}", value) or user_id is None:
        raise InteractionError("feedback without a valid incident or user")
    return FeedbackClick(action["action_id"] == ACTION_FEEDBACK_YES, int(value), user_id)


def _known_action(actions: object) -> dict[str, str]:
    if not isinstance(actions, list) or not actions:
        raise InteractionError("interaction without actions")
    for action in actions:
        if isinstance(action, dict) and action.get("action_id") in _ACTIONS:
            value = action.get("value")
            if not isinstance(value, str) or not _ID.match(value):
                raise InteractionError("action value is not an incident id")
            return {"action_id": str(action["action_id"]), "value": value}
    raise InteractionError("no Tocsin action in the interaction")


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
