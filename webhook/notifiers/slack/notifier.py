"""Slack: one Block Kit message per incident, updated in place, timeline in its thread; button callbacks parsed."""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Mapping
from typing import Any

import aiohttp
from pydantic import SecretStr
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from webhook.graphs.followup import AttachFailed
from webhook.graphs.maker import Graph
from webhook.notifiers.base import (
    Delivered,
    DeliveryResult,
    IncidentState,
    IncidentView,
    Message,
    MessageKind,
    Permanent,
    Retryable,
    parse_retry_after,
)
from webhook.notifiers.render import STRINGS, Renderer, SlackParts, key_labels, slack_escape, truncate

log = logging.getLogger(__name__)

ACTION_ACK = "tocsin_ack"
ACTION_RESOLVE = "tocsin_resolve"
ACTION_SNOOZE = "tocsin_snooze_1h"
SNOOZE_SECONDS = 3600
#: Approve / Reject of a runbook step waiting for approval; `value` is "<run id>:<step>" (webhook/approvals.py).
ACTION_APPROVE = "tocsin_run_approve"
ACTION_REJECT = "tocsin_run_reject"
#: "Was this actionable?" on a resolved incident (docs/report.md); `value` is the incident id.
ACTION_FEEDBACK_YES = "tocsin_feedback_yes"
ACTION_FEEDBACK_NO = "tocsin_feedback_no"

#: Slack errors that another attempt may cure; every other `error` is permanent.
RETRYABLE_ERRORS = frozenset({
    "ratelimited", "rate_limited", "internal_error", "fatal_error", "request_timeout",
    "service_unavailable", "team_added_to_org",
})
#: chat.update errors after which posting a fresh message is the right move (the old one is gone).
REPOST_ERRORS = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
UPDATE_KINDS = frozenset({MessageKind.UPDATE, MessageKind.ACK, MessageKind.RESOLVE,
                          MessageKind.REMEDIATION_PROGRESS, MessageKind.REMINDER})


def classify_slack_error(exc: Exception) -> Retryable | Permanent:
    """Alertmanager-style: rate limits, 5xx and network trouble are retryable, everything else permanent."""
    if isinstance(exc, SlackApiError):
        status = int(getattr(exc.response, "status_code", 0) or 0)
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        error = str(data.get("error") or f"HTTP {status}")
        headers = exc.response.headers or {}
        if status == 429 or error in {"ratelimited", "rate_limited"}:
            return Retryable(error, parse_retry_after(headers.get("Retry-After") or headers.get("retry-after")))
        if status >= 500 or error in RETRYABLE_ERRORS:
            return Retryable(error)
        return Permanent(error)
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ClientError):
        return Retryable(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    return Permanent(f"{type(exc).__name__}: {exc}")


def encode_reference(channel: str, ts: str) -> str:
    return f"{channel}/{ts}"


def decode_reference(reference: str) -> tuple[str, str]:
    channel, sep, ts = reference.partition("/")
    if not sep or not channel or not ts:
        raise ValueError(f"not a Slack message reference: {reference!r}")
    return channel, ts


def _safe_url(url: str | None) -> str | None:
    """Only http(s) links become buttons: annotations come from rule files, not from a trusted UI."""
    if url and re.match(r"^https?://", url) and len(url) <= 3000:
        return url
    return None


def _button(action_id: str, text: str, **extra: str) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": text[:75]}, **extra}


def build_blocks(view: IncidentView | None, parts: SlackParts, strings: Mapping[str, str]) -> list[dict[str, Any]]:
    """Block Kit for one incident (or a summary when `view` is None); pure, so tests read it directly."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": parts.title or "Tocsin", "emoji": True}},
    ]
    section: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": parts.body or " "}}
    if view is not None:
        fields = [{"type": "mrkdwn", "text": f"*{slack_escape(k)}*\n{slack_escape(v)}"[:2000]}
                  for k, v in key_labels(view.labels, max_labels=10)]
        if fields:
            section["fields"] = fields
    blocks.append(section)
    if view is None:
        return blocks
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": parts.context or view.code}]})
    blocks.append({"type": "actions", "block_id": "tocsin_actions", "elements": _actions(view, strings)})
    if view.state == IncidentState.RESOLVED:  # feeds the alert-quality report's actionable share
        blocks.append({"type": "actions", "block_id": "tocsin_feedback", "elements": [
            _button(ACTION_FEEDBACK_YES, "Actionable", value=view.id),
            _button(ACTION_FEEDBACK_NO, "Not actionable", value=view.id)]})
    return blocks


def _actions(view: IncidentView, strings: Mapping[str, str]) -> list[dict[str, Any]]:
    buttons: list[dict[str, Any]] = []
    if view.state in (IncidentState.TRIGGERED, IncidentState.SNOOZED):
        buttons.append(_button(ACTION_ACK, strings["ack"], value=view.id, style="primary"))
    if view.state != IncidentState.RESOLVED:
        buttons.append(_button(ACTION_RESOLVE, strings["resolve"], value=view.id, style="danger"))
    if view.state == IncidentState.TRIGGERED:
        buttons.append(_button(ACTION_SNOOZE, strings["snooze"], value=view.id))
    for name, url in (("runbook", view.runbook_url), ("dashboard", view.dashboard_url),
                      ("console", view.console_url)):
        safe = _safe_url(url)
        if safe is not None:
            buttons.append(_button(f"tocsin_link_{name}", strings[name], url=safe))
    return buttons or [_button("tocsin_link_none", view.code, value=view.id)]


def build_approval_blocks(msg: Message, strings: Mapping[str, str]) -> list[dict[str, Any]]:
    """A runbook step asks for approval: its question and Approve / Reject buttons."""
    assert msg.approval is not None
    assert msg.incident is not None
    value = f"{msg.approval[0]}:{msg.approval[1]}"
    text = f"*{msg.incident.code}* {strings['approval']}: {slack_escape(msg.note or '')}"
    return [{"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, 3000)}},
            {"type": "actions", "block_id": "tocsin_approval", "elements": [
                _button(ACTION_APPROVE, strings["approve"], value=value, style="primary"),
                _button(ACTION_REJECT, strings["reject"], value=value, style="danger")]}]


class SlackNotifier:
    """Posts with slack-sdk's AsyncWebClient; `base_url` points it at a fake in tests.

    Pass `session` to keep connections alive between messages (the caller closes it); without, the SDK
    opens and closes an aiohttp session for every call.
    """

    def __init__(self, token: SecretStr, renderer: Renderer, *, base_url: str = "https://slack.com/api/",
                 timeout: float = 10.0, session: aiohttp.ClientSession | None = None) -> None:
        # retry_handlers=[]: the outbox owns retries; the SDK's own would hide failures and double-post
        # the SDK takes whole seconds and treats 0 as "no timeout": round up, never down to 0
        self._client = AsyncWebClient(token=token.get_secret_value(), base_url=base_url,
                                      timeout=max(1, math.ceil(timeout)), retry_handlers=[], session=session)
        self._renderer = renderer

    async def notify(self, msg: Message) -> DeliveryResult:
        parts = self._renderer.slack(msg)
        blocks = build_blocks(msg.incident, parts, STRINGS[msg.locale])
        try:
            if msg.kind is MessageKind.REMEDIATION_APPROVAL:
                return await self._approval(msg)
            if msg.previous_reference and msg.kind in UPDATE_KINDS:
                return await self._update(msg, parts, blocks)
            return await self._post(msg.target.address, parts, blocks)
        except Exception as exc:  # classified, never raised: the outbox decides what happens next
            result = classify_slack_error(exc)
            log.warning("slack delivery failed (%s): %s", result.outcome, result.reason)
            return result

    async def _post(self, channel: str, parts: SlackParts, blocks: list[dict[str, Any]]) -> DeliveryResult:
        resp = await self._client.chat_postMessage(channel=channel, text=parts.fallback, blocks=blocks)
        reference = encode_reference(str(resp["channel"]), str(resp["ts"]))
        if parts.thread:
            try:
                await self._client.chat_postMessage(channel=str(resp["channel"]), thread_ts=str(resp["ts"]),
                                                    text=parts.thread)
            except Exception as exc:  # the page is out; a lost thread line must not make the outbox re-page
                log.warning("slack thread reply failed: %s", classify_slack_error(exc).reason)
        return Delivered(reference)

    async def attach_graph(self, reference: str, address: str, graph: Graph) -> None:
        """The incident's graph into its message's thread: slack-sdk's files_upload_v2, Slack's three-step
        external upload (files.getUploadURLExternal, the bytes to the upload URL, files.completeUploadExternal
        with channel_id and thread_ts). Raises AttachFailed, classified like a delivery."""
        try:
            channel, ts = decode_reference(reference)
        except ValueError as exc:
            raise AttachFailed(str(exc), retryable=False) from exc
        try:
            await self._client.files_upload_v2(channel=channel, thread_ts=ts, file=graph.png,
                                               filename=graph.filename, title=graph.title[:250],
                                               alt_txt=graph.alt[:1000])
        except Exception as exc:  # SlackRequestError (the upload step) included: classified, re-raised as ours
            result = classify_slack_error(exc)
            raise AttachFailed(result.reason, retryable=isinstance(result, Retryable)) from exc

    async def _approval(self, msg: Message) -> DeliveryResult:
        """In the incident message's thread when there is one (its reference stays the incident's), else new."""
        blocks = build_approval_blocks(msg, STRINGS[msg.locale])
        text = str(slack_escape(truncate(msg.note or "approval needed", 3000)))
        if msg.previous_reference:
            channel, ts = decode_reference(msg.previous_reference)
            await self._client.chat_postMessage(channel=channel, thread_ts=ts, text=text, blocks=blocks)
            return Delivered(msg.previous_reference)
        resp = await self._client.chat_postMessage(channel=msg.target.address, text=text, blocks=blocks)
        return Delivered(encode_reference(str(resp["channel"]), str(resp["ts"])))

    async def _update(self, msg: Message, parts: SlackParts, blocks: list[dict[str, Any]]) -> DeliveryResult:
        assert msg.previous_reference is not None
        try:
            channel, ts = decode_reference(msg.previous_reference)
        except ValueError as exc:
            return Permanent(str(exc))
        try:
            await self._client.chat_update(channel=channel, ts=ts, text=parts.fallback, blocks=blocks)
        except SlackApiError as exc:
            if exc.response.get("error") in REPOST_ERRORS:
                return await self._post(msg.target.address, parts, blocks)
            raise
        if parts.thread:
            # chat.update is idempotent, so a retry after a failed reply repeats nothing visible
            await self._client.chat_postMessage(channel=channel, thread_ts=ts, text=parts.thread)
        return Delivered(encode_reference(channel, ts))
