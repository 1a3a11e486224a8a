"""Approve / Reject buttons of waiting runbook steps in Slack: parse the click, authorise the responder, decide."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qs

from webhook.config import TocsinConfig
from webhook.notifiers.slack.notifier import ACTION_APPROVE, ACTION_REJECT, InteractionError
from webhook.remediation import run_requests as requests
from webhook.remediation.service import ACTOR, DecisionRefused, Remediation

_VALUE = re.compile(r"^(\d{1,17}):(\d{1,6})$")
_SLACK_ID = re.compile(r"^[A-Z0-9]{2,32}$")


@dataclass(frozen=True, slots=True)
class ApprovalClick:
    approved: bool
    run_id: str
    step: int
    slack_user_id: str


def parse_approval(form_body: bytes) -> ApprovalClick | None:
    """The approval button of a verified interaction body; None for any other body (the incident parser's job)."""
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
        if isinstance(action, dict) and action.get("action_id") in (ACTION_APPROVE, ACTION_REJECT):
            found = _VALUE.match(str(action.get("value", "")))
            user = payload.get("user")
            user_id = user.get("id") if isinstance(user, dict) else None
            if found is None or not isinstance(user_id, str) or not _SLACK_ID.match(user_id):
                raise InteractionError("approval without a valid run, step or user")
            return ApprovalClick(action["action_id"] == ACTION_APPROVE, found[1], int(found[2]), user_id)
    return None


def responder_of(cfg: TocsinConfig, slack_user_id: str) -> str | None:
    return next((r.name for r in cfg.oncall.responders if r.slack_user == slack_user_id), None)


async def decide(cfg: TocsinConfig, rem: Remediation, click: ApprovalClick) -> str:
    """Decide as the mapped responder if the allow-list lets them; the answer for the clicking user."""
    verb = "approve" if click.approved else "reject"
    who = responder_of(cfg, click.slack_user_id)
    if who is None or not cfg.remediation.approvals.allows(who, cfg.oncall):
        why = "your Slack user is not mapped to a responder" if who is None else f"{who} is not an approver"
        await _refused(rem, click, who, why)
        return f"You may not {verb} runbook steps: {why}."
    try:
        record = await rem.decide(click.run_id, click.approved, who, click.step)
    except DecisionRefused as exc:
        return exc.reason
    return f"Run {click.run_id} step {click.step}: {record.decision} by {who}."


async def _refused(rem: Remediation, click: ApprovalClick, who: str | None, why: str) -> None:
    """A refused click is on the incident's timeline (who tried what), not only in the clicker's Slack."""
    run = await rem.store.get_run(click.run_id) if click.run_id.isdigit() else None
    if run is None or run.incident_id is None or not run.incident_id.isdigit():
        return
    detail = {"run_id": run.id, "step": click.step, "approved": click.approved,
              "slack_user": click.slack_user_id, "responder": who, "reason": why}
    await rem.db.write(requests.add_timeline, int(run.incident_id), rem.clock(), "remediation_approval_refused",
                       ACTOR, detail)
