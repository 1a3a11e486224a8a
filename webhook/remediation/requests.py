"""The in-transaction half of remediation: a run request per matching runbook of a new incident; a resolve
(by a human, a timer or Alertmanager) cancels it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from remediator.loader import load_runbooks
from remediator.runbook import Runbook
from webhook.config.remediation import RemediationConfig
from webhook.escalation import repo as escalation_repo
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

    def __init__(self, cfg: RemediationConfig, runbooks: list[Runbook] | None = None, *,
                 on_work: Callable[[], None] | None = None) -> None:
        self.cfg = cfg
        loaded = runbooks if runbooks is not None else load_runbooks(cfg.runbooks_dir)
        self.runbooks = sorted(loaded, key=lambda r: r.id)  # matched in id order, like Engine.matching
        #: Called (from the database thread, before the commit) when a batch wrote requests due now: wakes the
        #: remediation worker, so a run starts right after the commit instead of on the next tick.
        self.on_work = on_work

    def _matching(self, labels: dict[str, str]) -> list[tuple[str, Any]]:
        return with_holds(self.cfg, [r for r in self.runbooks if r.matches(dict(labels))])

    def on_batch(self, conn: Connection, result: BatchResult, now: datetime) -> None:
        """Requests for the incidents the batch opened; those of the incidents Alertmanager resolved are
        cancelled (a run must not act on a problem that is gone, review finding 7). A new alert in an incident
        whose run already ended `verified` (it flapped back, or another alert joined) ends the verified grace:
        the fix did not hold, and the held escalation steps are due now (no run starts for a join, so without
        this the re-fire would be absorbed silently until the grace ended)."""
        step = self.cfg.trigger_step if self.cfg.trigger == "escalation_step" else None
        added = requests.add_requests(conn, result.opened_rows, self._matching, now, step)
        if result.resolved:
            requests.cancel_requests_of(conn, (iid for iid, _, _ in result.resolved))
        refired = set(result.joined) | set(result.reopened)
        for iid in requests.end_grace_holds(conn, refired, now) if refired else []:
            escalation_repo.release_held(conn, iid, now)
        if added and step is None and self.on_work is not None:
            self.on_work()

    def on_action(self, conn: Connection, incident_id: int, action: str, actor: str, now: datetime,
                  detail: dict[str, Any]) -> None:
        if action == "resolve":
            requests.cancel_requests(conn, incident_id)
