"""Incident -> remediator: run requests, the worker, timeline events, escalation hold (docs/runbooks.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from remediator.cluster import Cluster
from remediator.engine import Alert, Engine
from remediator.events import EventKind, RunEvent
from remediator.kube import ClusterAccess, connect
from remediator.loader import load_runbooks
from remediator.prometheus import Prometheus
from remediator.records import ApprovalDecision, ApprovalRecord, Outcome, RunRecord, RunStatus
from remediator.settings import EngineSettings
from webhook import metrics
from webhook.clock import Clock
from webhook.config.remediation import RemediationConfig
from webhook.escalation import repo as escalation_repo
from webhook.incidents import actions as incident_repo
from webhook.incidents.events import Hooks
from webhook.incidents.model import OPEN_STATES, TransitionError
from webhook.remediation import run_requests as requests
from webhook.remediation.adapters import HttpCaller, RemediationMetrics
from webhook.remediation.requests import RemediationRequests, defer_for_window
from webhook.remediation.run_store import SqlRunStore, decide_approval_once, run_pk, waiting_runs_of_resolved_incidents
from webhook.store.db import Connection, Database, StorageUnavailable
from webhook.wakeup import WakeUp

log = logging.getLogger(__name__)
ACTOR = "tocsin-remediation"
Sleep = Callable[[float], Awaitable[None]]
#: Called with every progress event after it is on the timeline (the escalation side posts it to channels).
EventListener = Callable[[RunEvent], Awaitable[None]]
_KINDS = {EventKind.STARTED: "remediation_started", EventKind.PROGRESS: "remediation_progress",
          EventKind.MESSAGE: "remediation_message", EventKind.AWAITING_APPROVAL: "remediation_approval",
          EventKind.VERIFYING: "remediation_verifying"}
_OPEN = {s.value for s in OPEN_STATES}
#: Resolvers whose resolve a run that needs a human overrides (Alertmanager, the flap quiet period, another
#: run's verification): the incident is re-opened and paged. A human's resolve stands.
AUTOMATIC_RESOLVERS = frozenset({"alertmanager", "tocsin", ACTOR})


def timeline_kind(event: RunEvent) -> str:
    """remediation_started/progress/message/approval/verifying, or remediation_<outcome> when finished."""
    if event.kind is EventKind.FINISHED:
        return f"remediation_{event.outcome or 'finished'}"
    return _KINDS[event.kind]


class DecisionRefused(Exception):
    """An approval decision or abort that cannot be taken; `unknown`: no such run (else: a conflict)."""

    def __init__(self, reason: str, *, unknown: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.unknown = reason, unknown


class Remediation:
    """One per process. Registered on the service hooks; all state is in the database, so replicas share it."""

    def __init__(self, cfg: RemediationConfig, db: Database, clock: Clock, hooks: Hooks, *, cluster: Cluster,
                 prometheus: Prometheus, sleep: Sleep = asyncio.sleep, http: HttpCaller | None = None,
                 listeners: Sequence[EventListener] = ()) -> None:
        self.cfg, self.db, self.clock, self.hooks = cfg, db, clock, hooks
        self.runbooks = load_runbooks(cfg.runbooks_dir)
        self.requests_hook = RemediationRequests(cfg, self.runbooks, on_work=self.kick)
        cooldowns = {r.id: r.safety.cooldown for r in self.runbooks}
        self.prometheus, self.http = prometheus, http or HttpCaller()
        self.worker_id = f"{socket.gethostname()}:{id(self):x}"
        #: Told of every run event after it is on the timeline (the bridge posts it to the incident's channels).
        self.listeners: list[EventListener] = list(listeners)
        self.store = SqlRunStore(db, cooldowns.get)
        self.engine = Engine(
            store=self.store, cluster=cluster, prometheus=prometheus, runbooks=self.runbooks,
            settings=EngineSettings(
                dry_run=cfg.dry_run, namespace_allow=tuple(cfg.namespace_allow),
                namespace_deny=tuple(cfg.namespace_deny), http_allowlist=tuple(cfg.http_allowlist),
                stale_run_after_seconds=cfg.stale_run_after.total_seconds(), triggered_by="tocsin"),
            clock=clock, sleep=sleep, events=self.on_event, metrics=RemediationMetrics(), http=self.http)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._slots = asyncio.Semaphore(cfg.max_concurrent_runs)
        self._next_engine_tick = datetime.min.replace(tzinfo=UTC)
        self._wakeup = WakeUp("tocsin-remediation", self.start_due)

    # --- the worker -----------------------------------------------------------------------------------

    async def claim(self, limit: int | None = None) -> list[requests.RunRequest]:
        return await self.db.write(requests.claim_requests, self.clock(), self.worker_id,
                                   limit or self.cfg.max_concurrent_runs, self.cfg.claim_lease)

    async def execute(self, req: requests.RunRequest) -> RunRecord | None:
        """Start the request's run (or find the one another replica started) and mark the request done.

        The incident is looked at again once a slot is free: a request may wait behind busy slots for a long
        time in a storm, and a run must not act on an incident resolved meanwhile (review finding 7)."""
        runbook = self.engine.runbooks.get(req.runbook_id)
        if runbook is None:
            await self.db.write(requests.finish_request, req.id, None, f"runbook {req.runbook_id} is not loaded")
            return None
        alert = Alert(req.labels, req.annotations, req.fingerprint, req.starts_at)
        async with self._slots:
            state = await self.db.read(requests.incident_state, req.incident_id)
            if state is None or state[0] not in _OPEN:
                why = f"incident {req.incident_id} is {state[0] if state else 'gone'}: no run needed"
                await self.db.write(requests.cancel_claimed, req.id, why)
                return None
            if await self.db.write(defer_for_window, req.id, req.incident_id, req.runbook_id, req.labels,
                                   self.clock()):
                return None  # a maintenance window covers the incident: the run waits for its end
            run = await self.engine.start(runbook, alert, incident_id=str(req.incident_id),
                                          triggered_by=f"incident {req.incident_id}")
        await self.db.write(requests.finish_request, req.id, run.id)
        return run

    async def run_pending(self) -> list[RunRecord]:
        """Claim due requests and run them to the end or their first pause (tests and the CLI call this)."""
        results = await asyncio.gather(*(self.execute(r) for r in await self.claim()))
        return [r for r in results if r is not None]

    async def run_in(self, run_id: str, allowed: tuple[RunStatus, ...]) -> RunRecord:
        """The run, if it is in one of the `allowed` statuses (DecisionRefused otherwise)."""
        run = await self.store.get_run(run_id) if run_pk(run_id) is not None else None
        if run is None:
            raise DecisionRefused(f"run {run_id} not found", unknown=True)
        if run.status not in allowed:
            raise DecisionRefused(f"run {run_id} is {run.status}" + (f" ({run.outcome})" if run.outcome else ""))
        return run

    async def decide(self, run_id: str, approved: bool, who: str, step: int | None = None) -> ApprovalRecord:
        """Approve or reject the step the run waits at (API, console, Slack); the first decision wins and the
        run resumes in the background. `step` (from a Slack button) must be the step the run waits at."""
        run = await self.run_in(run_id, (RunStatus.AWAITING_APPROVAL,))
        if step is not None and step != run.next_step:
            raise DecisionRefused(f"run {run_id} waits at step {run.next_step}, not {step}")
        decision = ApprovalDecision.APPROVED if approved else ApprovalDecision.REJECTED
        won, record = await self.db.write(decide_approval_once, run.id, run.next_step, decision, who, self.clock())
        if record is None:
            raise DecisionRefused(f"run {run_id} has no approval request for step {run.next_step}")
        if not won:
            raise DecisionRefused(f"step {run.next_step} of run {run_id} was already {record.decision} "
                                  f"by {record.decided_by}")
        self.spawn(self.engine.decide(run.id, approved, by=who), f"decide run {run.id}")  # audit + resume
        return record

    def spawn(self, coro: Awaitable[Any], name: str) -> None:
        """Run coro in the background (not on the request path); failures are logged, state stays in the DB."""
        async def guarded() -> None:
            try:
                await coro
            except StorageUnavailable as exc:
                log.warning("remediation %s: storage unavailable: %s", name, exc)
            except Exception:
                log.exception("remediation %s failed", name)

        task = asyncio.create_task(guarded(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for every spawned task (decisions, aborts, runs) to end: for tests and shutdown."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def start_due(self) -> int:
        """Claim due requests and start their runs in background tasks; returns the requests claimed."""
        claimed = await self.claim()
        for req in claimed:
            self.spawn(self.execute(req), f"run request {req.id}")
        return len(claimed)

    def start(self) -> None:
        """Requests written by an ingest batch start right after its commit (woken like escalation), not on
        the next tick; the tick still picks up whatever a wake-up missed."""
        self._wakeup.start()

    def kick(self) -> None:
        """Requests are due now (called from the database thread, or for the ingest process's report): wake
        the worker once started; before start() the tick finds them."""
        self._wakeup.kick()

    async def tick(self, now: datetime | None = None) -> int:
        """The service ticker's Worker hook: start due requests, and every tick_interval let the engine time
        out approvals and recover interrupted runs. Runs go to background tasks; returns requests started."""
        now = now or self.clock()
        claimed = await self.start_due()
        if now >= self._next_engine_tick and not any(t.get_name() == "engine tick" for t in self._tasks):
            self.spawn(self.engine.tick(), "engine tick")
            self._next_engine_tick = now + self.cfg.tick_interval
        for run_id, by in await self.db.read(waiting_runs_of_resolved_incidents):
            await self.engine.cancel(run_id, f"incident resolved by {by}")
        return claimed

    async def aclose(self) -> None:
        await self._wakeup.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.prometheus.aclose()
        await self.http.client.aclose()

    # --- events -> timeline, hold, metrics, listeners --------------------------------------------------

    async def on_event(self, event: RunEvent) -> None:
        incident = int(event.incident_id) if event.incident_id and event.incident_id.isdigit() else None
        await self.db.write(self._record, event, incident)
        for listener in self.listeners:
            try:
                await listener(event)
            except Exception:
                log.exception("remediation event listener failed on %s", event.kind)

    def _record(self, conn: Connection, event: RunEvent, incident: int | None) -> None:
        detail: dict[str, Any] = {"run_id": event.run_id, "runbook": event.runbook_id, "message": event.message}
        if event.kind is EventKind.STARTED and event.hold_escalation_until is not None:
            hold = self._capped(event)
            requests.set_hold(conn, event.run_id, incident, hold)
            detail["hold_escalation_until"] = hold.isoformat()
        if event.kind is EventKind.AWAITING_APPROVAL:
            detail["step"] = event.step_index
        if event.kind is EventKind.FINISHED:
            detail.update(outcome=str(event.outcome), page=event.page)
        if incident is not None:
            requests.add_timeline(conn, incident, event.at, timeline_kind(event), ACTOR, detail)
        if event.kind is EventKind.FINISHED:
            self._finished(conn, event, incident)

    def _capped(self, event: RunEvent) -> datetime:
        assert event.hold_escalation_until is not None
        cap = self.cfg.hold_escalation_for
        return min(event.hold_escalation_until, event.at + cap) if cap is not None else event.hold_escalation_until

    def _finished(self, conn: Connection, event: RunEvent, incident: int | None) -> None:
        if event.page or event.outcome is not Outcome.VERIFIED:
            requests.set_hold(conn, event.run_id, incident, None)  # escalation resumes at once
            if event.page and incident is not None:
                self._page_even_if_resolved(conn, event, incident)
            return
        grace_end = event.at + self.cfg.verified_grace
        requests.set_hold(conn, event.run_id, incident, grace_end)
        if incident is not None:  # held steps are due when the grace ends, not when the run's hold would have
            escalation_repo.reschedule_held(conn, incident, grace_end)
        state = requests.incident_state(conn, incident) if incident is not None else None
        if state is None or incident is None:
            return
        if self.cfg.trigger == "on_open" and not state[1] and not escalation_repo.paged(conn, incident):
            metrics.PAGES_AVOIDED.labels(event.runbook_id).inc()
        if self.cfg.resolve_on_verified and state[0] in _OPEN:
            # a state a human or ingest set meanwhile stands (compare-and-set): the run's end is recorded anyway
            with contextlib.suppress(TransitionError):
                incident_repo.act(conn, incident, "resolve", ACTOR, event.at,
                                  note=f"verified by runbook {event.runbook_id} (run {event.run_id})",
                                  hooks=self.hooks)

    def _page_even_if_resolved(self, conn: Connection, event: RunEvent, incident: int) -> None:
        """A run that needs a human pages even when its incident was resolved automatically while it worked
        (Alertmanager resolves ~2 s after a rollout replaced the crashing pods, then the verification fails):
        the incident is re-opened and its escalation starts over. If a new incident of the same key opened
        meanwhile, that one pages at once instead (its runs not yet started are cancelled: they would hold the
        page again). A human's resolve stands (the run's end is posted to the incident's channels by the bridge)."""
        end = requests.incident_end(conn, incident)
        if end is None or end.state != "resolved" or end.resolved_by not in AUTOMATIC_RESOLVERS:
            return
        why = f"runbook {event.runbook_id} (run {event.run_id}) ended {event.outcome} after the incident was " \
              f"resolved by {end.resolved_by}"
        if end.open_of_key is None:
            detail = {"reason": why, "run_id": event.run_id, "runbook": event.runbook_id}
            if requests.reopen(conn, incident, event.at, ACTOR, detail):
                requests.release_holds(conn, incident)  # an older run's verified_grace must not hold this page
                self.hooks.on_action(conn, incident, "reopen", ACTOR, event.at, detail)
                return
            end = requests.incident_end(conn, incident)  # an incident of the key opened meanwhile
            if end is None or end.open_of_key is None:
                return
        other = end.open_of_key
        requests.add_timeline(conn, incident, event.at, "remediation_paged_on", ACTOR,
                              {"reason": why, "incident": other})
        paged: dict[str, Any] = {"reason": f"{why}; incident {incident} has the same key", "run_id": event.run_id,
                                 "incident": incident}
        requests.add_timeline(conn, other, event.at, "remediation_page", ACTOR, paged)
        requests.cancel_requests(conn, other)  # not retried on the same key now: its run would hold the page again
        requests.release_holds(conn, other)
        self.hooks.on_action(conn, other, "page", ACTOR, event.at, paged)


def build_remediation(cfg: RemediationConfig, db: Database, clock: Clock, hooks: Hooks, *,
                      sleep: Sleep = asyncio.sleep, listeners: Sequence[EventListener] = ()) -> Remediation | None:
    """The configured remediation, or None when it is off (no cluster configured): the service runs without."""
    c = cfg.cluster
    if not cfg.enabled or c.mode == "none":  # enabled implies a cluster (RemediationConfig); the test narrows it
        return None
    token = c.token.get_secret_value() if c.token else (c.token_file.read_text().strip() if c.token_file else None)
    cluster = connect(ClusterAccess(
        mode=c.mode, kubeconfig=str(c.kubeconfig) if c.kubeconfig else None, context=c.context,
        host=c.host, token=token, ca_file=str(c.ca_file) if c.ca_file else None, insecure=c.insecure,
        connect_timeout=c.connect_timeout.total_seconds(), read_timeout=c.read_timeout.total_seconds()))
    return Remediation(cfg, db, clock, hooks, cluster=cluster, prometheus=Prometheus(cfg.prometheus_url), sleep=sleep,
                       listeners=listeners)
