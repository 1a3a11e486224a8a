"""Approve / Reject buttons of waiting runbook steps in Slack: parse the click, authorise the responder, decide."""

from __future__ import annotations

from webhook.config import TocsinConfig
from webhook.notifiers.slack.interactions import ApprovalClick
from webhook.remediation import run_requests as requests
from webhook.remediation.service import ACTOR, DecisionRefused, Remediation


def responder_of(cfg: TocsinConfig, slack_user_id: str) -> str | None:
    return next((r.name for r in cfg.oncall.responders if r.slack_user == slack_user_id), None)


async def decide(cfg: TocsinConfig, rem: Remediation, click: ApprovalClick, actor: str | None = None) -> str:
    """Decide as the mapped responder (or `actor`, whom the responder policy lets act) if the allow-list lets
    them; the answer for the clicking user."""
    verb = "approve" if click.approved else "reject"
    who = actor or responder_of(cfg, click.slack_user_id)
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
