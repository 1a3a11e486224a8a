"""Escalation meets remediation: the hold and step trigger on the timer, run events to the incident's channels."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from remediator.events import EventKind, RunEvent
from webhook.config import TocsinConfig
from webhook.config.remediation import RemediationConfig
from webhook.escalation import repo
from webhook.escalation.policy import idem
from webhook.escalation.service import Escalation, Holds
from webhook.notifiers import outbox_repo
from webhook.notifiers.messages import approval_note
from webhook.remediation import run_requests as requests
from webhook.store.db import Connection, Database

PROGRESS = "remediation_progress"
APPROVAL = "remediation_approval"


def escalation_holds(cfg: RemediationConfig, on_work: Callable[[], None] | None = None) -> Holds:
    """The escalation timer honours remediation holds (and, by config, triggers runs at a step). `on_work` is
    called (on the database thread) when a step made requests due: it wakes the remediation worker."""
    if not cfg.enabled:
        return Holds()
    # step_reached also with trigger `incident_opened`: the requests of an incident opened inside a maintenance
    # window wait for its first step (held until the window ends); without waiting requests it changes nothing

    def step_reached(conn: Connection, incident_id: int, step: int, now: datetime) -> int:
        due = requests.escalation_step_reached(conn, incident_id, step, now)
        if due and on_work is not None:
            on_work()
        return due

    return Holds(held_until=requests.held_until, step_reached=step_reached)


class RemediationChannels:
    """Registered on Remediation.listeners; every write is idempotent per run and event (UNIQUE idem_key)."""

    def __init__(self, cfg: TocsinConfig, db: Database, escalation: Escalation) -> None:
        self.cfg, self.db, self.escalation = cfg, db, escalation

    async def on_event(self, event: RunEvent) -> None:
        incident = event.incident_id
        if incident is None or not incident.isdigit():
            return  # a run started from the CLI or API without an incident
        if await self.db.write(self.write, event, int(incident)):
            self.escalation.kick()

    def write(self, conn: Connection, event: RunEvent, incident_id: int) -> int:
        """Rows for one event: held steps released when the run needs a human, progress or an approval request."""
        released = 0
        if event.kind is EventKind.FINISHED and event.page:
            released = repo.release_held(conn, incident_id, event.at)  # the hold ended: step fires on the next tick
        if event.kind is EventKind.AWAITING_APPROVAL:
            return released + self._approval(conn, event, incident_id)
        key = f"{event.run_id}:{event.kind}:{hashlib.sha256(event.message.encode()).hexdigest()[:12]}"
        note = f"{event.runbook_id}: {event.message}"
        return released + self.escalation.state_updates(conn, incident_id, PROGRESS, event.at, note[:2000], seq=key)

    def _approval(self, conn: Connection, event: RunEvent, incident_id: int) -> int:
        """Approve / Reject buttons in the incident's Slack threads, or in the approvals channel if none exists."""
        slack = self.cfg.channels.slack
        if slack is None or event.step_index is None:
            return 0  # no Slack: approve through the API or console
        addresses = sorted({r["address"] for r in repo.reached(conn, incident_id) if r["channel"] == "slack"})
        if not addresses:
            addresses = [self.cfg.remediation.approvals.slack_channel or slack.default_channel]
        question = event.message.removeprefix("approval needed: ")
        note = approval_note(event.run_id, event.step_index, question)[:2000]
        rows = [outbox_repo.delivery_row(idem(incident_id, APPROVAL, event.run_id, event.step_index, "slack", address),
                                  incident_id, None, None, APPROVAL, "slack", address, None, self.cfg.channels.locale,
                                  "", event.at, note) for address in addresses]
        outbox_repo.insert_deliveries(conn, rows)
        return len(rows)
