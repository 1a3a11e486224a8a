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
from webhook.windows import repo as windows_repo
from webhook.windows.model import Window, active_for, hold


def with_holds(cfg: RemediationConfig, runbooks: list[Runbook]) -> list[tuple[str, Any]]:
    """(runbook id, escalation hold) of matching runbooks; the hold is capped by hold_escalation_for."""
    cap = cfg.hold_escalation_for
    return [(r.id, min(r.safety.hold_escalation_for, cap) if cap is not None else r.safety.hold_escalation_for)
            for r in runbooks]


def defer_for_window(conn: Connection, request_id: int, incident_id: int, runbook_id: str, labels: dict[str, str],
                     now: datetime) -> bool:
    """Just before a claimed request starts its run: if a maintenance window covers the incident now (created
    after the incident opened), the run does not start; the request waits for the escalation's next step, which
    the window holds until its end. Steps its hold deferred beyond the window are due at the window's end instead
    (the hold is gone: the page must not wait for a run that did not start). True when deferred."""
    windows = windows_repo.current(conn, now)
    covering, found = active_for(windows, labels, now), hold(windows, labels, now)
    if not covering or found is None or not requests.wait_for_step(conn, request_id, 1):
        return False
    escalation_repo.reschedule_held(conn, incident_id, found.until)
    note = f"runbook {runbook_id} not started: maintenance window {covering[0].describe()}"
    requests.add_timeline(conn, incident_id, now, "remediation_not_started", "tocsin",
                          {"runbook": runbook_id, "window": covering[0].id, "note": note})
    return True


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
        opened, quiet = self._split(conn, result.opened_rows, now) if step is None else (result.opened_rows, {})
        added = requests.add_requests(conn, opened, self._matching, now, step)
        if quiet:
            self._wait_for_window(conn, quiet, now)
        if result.resolved:
            requests.cancel_requests_of(conn, (iid for iid, _, _ in result.resolved))
        refired = set(result.joined) | set(result.reopened)
        for iid in requests.end_grace_holds(conn, refired, now) if refired else []:
            escalation_repo.release_held(conn, iid, now)
        if added and step is None and self.on_work is not None:
            self.on_work()

    def _split(self, conn: Connection, rows: dict[int, dict[str, Any]], now: datetime,
               ) -> tuple[dict[int, dict[str, Any]], dict[int, tuple[dict[str, Any], Window]]]:
        """The opened incidents whose runs may start now, and those a maintenance window covers (with it)."""
        windows = windows_repo.current(conn, now) if rows and self.runbooks else []
        if not windows:
            return rows, {}
        free, quiet = {}, {}
        for iid, a in rows.items():
            covering = active_for(windows, dict(a["labels"]), now)
            if covering:
                quiet[iid] = (a, covering[0])
            else:
                free[iid] = a
        return free, quiet

    def _wait_for_window(self, conn: Connection, quiet: dict[int, tuple[dict[str, Any], Window]],
                         now: datetime) -> None:
        """No run starts while a maintenance window covers the incident (docs/windows.md): its requests wait for
        the first escalation step, which the window holds until its end; if the incident still fires then, the
        page goes out and the run starts with it. The timeline says so per runbook."""
        requests.add_requests(conn, {iid: a for iid, (a, _) in quiet.items()}, self._matching, now, 1)
        for iid, (a, w) in quiet.items():
            for runbook_id, _hold in self._matching(dict(a["labels"])):
                note = f"runbook {runbook_id} not started: maintenance window {w.describe()}"
                requests.add_timeline(conn, iid, now, "remediation_not_started", "tocsin",
                                      {"runbook": runbook_id, "window": w.id, "note": note})

    def on_action(self, conn: Connection, incident_id: int, action: str, actor: str, now: datetime,
                  detail: dict[str, Any]) -> None:
        if action == "resolve":
            requests.cancel_requests(conn, incident_id)
