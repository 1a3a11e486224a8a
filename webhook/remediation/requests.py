"""The in-transaction half of remediation: a run request per matching runbook of a new incident; a resolve
cancels it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from remediator.loader import load_runbooks
from remediator.runbook import Runbook
from webhook.config.remediation import RemediationConfig
from webhook.incidents.events import BatchResult
from webhook.remediation import run_requests as requests
from webhook.store.db import Connection


def with_holds(cfg: RemediationConfig, runbooks: list[Runbook]) -> list[tuple[str, Any]]:
    """(runbook id, escalation hold) of matching runbooks; the hold is capped by hold_escalation_for."""
    cap = cfg.hold_escalation_for
    return [(r.id, min(r.safety.hold_escalation_for, cap) if cap is not None else r.safety.hold_escalation_for)
            for r in runbooks]


class RemediationRequests:
    """The in-transaction part of remediation alone (a run request per matching runbook of a new incident),
    without cluster or Prometheus clients. `Remediation` delegates its hooks to one; the ingest process registers
    one of its own."""

    def __init__(self, cfg: RemediationConfig, runbooks: list[Runbook] | None = None) -> None:
        self.cfg = cfg
        loaded = runbooks if runbooks is not None else load_runbooks(cfg.runbooks_dir)
        self.runbooks = sorted(loaded, key=lambda r: r.id)  # matched in id order, like Engine.matching

    def _matching(self, labels: dict[str, str]) -> list[tuple[str, Any]]:
        return with_holds(self.cfg, [r for r in self.runbooks if r.matches(dict(labels))])

    def on_batch(self, conn: Connection, result: BatchResult, now: datetime) -> None:
        step = self.cfg.trigger_step if self.cfg.trigger == "escalation_step" else None
        requests.add_requests(conn, result.opened_rows, self._matching, now, step)

    def on_action(self, conn: Connection, incident_id: int, action: str, actor: str, now: datetime,
                  detail: dict[str, Any]) -> None:
        if action == "resolve":
            requests.cancel_requests(conn, incident_id)
