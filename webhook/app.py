"""create_app(config): wiring, lifespan (migrations, ingest writer, ticker) and request metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from webhook import __version__, metrics
from webhook.api import alertmanager, console, health, incidents, remediation, report, schedules, slack, twilio
from webhook.api import oidc as oidc_api
from webhook.api import push as push_api
from webhook.api import session as session_api
from webhook.api import stream as stream_api
from webhook.api import windows as windows_api
from webhook.api.limits import ApiGuard
from webhook.auth import Credentials, resolve_credentials
from webhook.board.hub import Board, stream_settings
from webhook.clock import Clock, utcnow
from webhook.config import TocsinConfig
from webhook.escalation.worker import EscalationWorker
from webhook.graphs.maker import GraphMaker
from webhook.history import History
from webhook.incidents import actions as incident_repo
from webhook.incidents.events import Hooks
from webhook.ingest.process import ProcessIngestor
from webhook.ingest.writer import Ingestor, IngestSink
from webhook.prevention.worker import Forecaster
from webhook.push.checks import push_findings
from webhook.reconcile.worker import Reconciler
from webhook.remediation.bridge import RemediationChannels, escalation_holds
from webhook.remediation.service import Sleep, build_remediation
from webhook.retention import Retention
from webhook.service import Service, register_hooks
from webhook.signin.service import SignIn
from webhook.store.db import Database, StorageUnavailable
from webhook.store.leader import Leadership
from webhook.store.migrate import upgrade
from webhook.windows.mirror import SilenceMirror

log = logging.getLogger(__name__)


class RequestMetrics:
    """Pure ASGI middleware (no per-request task) observing latency by route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            path = getattr(scope.get("route"), "path", None) or "unmatched"
            metrics.REQUEST_LATENCY.labels(path, scope["method"]).observe(time.perf_counter() - start)


async def tick(svc: Service) -> None:
    """Periodic work read from the database: wake snoozed incidents, resolve quiet flapping ones."""
    now = svc.clock()
    # first: the gauge must say this replica lost the leadership even when the database writes below fail
    lead = True if svc.leader is None else await svc.leader.is_leader()
    metrics.LEADER.set(1 if lead else 0)
    try:
        await svc.db.write(incident_repo.wake_snoozed, now, svc.hooks)
        resolved = await svc.db.write(incident_repo.resolve_quiet, now, svc.hooks)
    except StorageUnavailable as exc:
        log.warning("tick skipped: %s", exc)
        return
    if resolved:
        log.info("resolved %d flapping incidents after their quiet period", len(resolved))
    for worker in [*svc.workers, *(svc.singletons if lead else [])]:
        try:
            await worker.tick(now)
        except StorageUnavailable as exc:
            log.warning("%s skipped: %s", type(worker).__name__, exc)


def create_app(cfg: TocsinConfig, *, clock: Clock = utcnow, creds: Credentials | None = None,
               tick_seconds: float = 1.0, sleep: Sleep = asyncio.sleep, ingest_process: bool = False) -> FastAPI:
    """Build the ASGI app. Nothing touches the database or the network until the lifespan starts.

    `ingest_process` (what `tocsin serve` does unless `ingest.process` is off): webhook payloads are decided
    and committed by a child process (webhook/ingest_proc.py; it uses the real clock).
    """
    creds = creds if creds is not None else resolve_credentials(cfg)
    for finding in push_findings(cfg):  # docs/channels.md, Web Push
        log.warning("config: %s", finding)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        db = Database.from_url(cfg.database_url(), writers=cfg.ingest.writers, **cfg.database.engine_options())
        if cfg.database.auto_migrate:
            upgrade(db.engine)
        hooks = Hooks()

        def wake_runs() -> None:  # work for remediation: run requests due (rem is set below, before any commit)
            if rem is not None:
                rem.kick()

        # graphs in pages and the console (docs/graphs.md): on when enabled and a Prometheus is configured
        app.state.graphs = graphs = GraphMaker(cfg.graphs, History(cfg.prometheus), clock) \
            if cfg.graphs.enabled and cfg.prometheus.enabled else None
        if graphs is not None and cfg.graphs.isolate:
            graphs.start()  # the render process starts with the service, not beside its first page
        escalation = EscalationWorker(cfg, db, clock, holds=escalation_holds(cfg.remediation, on_work=wake_runs),
                                      graphs=graphs)
        bridge = RemediationChannels(cfg, db, escalation.escalation)  # run events to the incident's channels
        # None unless enabled (with a cluster): everything else runs unchanged
        app.state.remediation = rem = build_remediation(cfg.remediation, db, clock, hooks, sleep=sleep,
                                                        listeners=[bridge.on_event])
        register_hooks(hooks, escalation=escalation.escalation, requests=rem.requests_hook if rem else None)

        def kick() -> None:  # the ingest process's commits wrote escalation or remediation work
            escalation.escalation.kick()
            wake_runs()

        ingestor: IngestSink = (ProcessIngestor(cfg, on_kick=kick)  # its commits wake us
                                if ingest_process else Ingestor(db, cfg, clock, hooks=hooks))
        leader = Leadership(cfg.database_url(), lease=cfg.database.leader_lease)
        svc = Service(cfg, creds, db, ingestor, clock, hooks, leader=leader)
        svc.workers += [rem, escalation] if rem is not None else [escalation]
        svc.singletons.append(Retention(db, cfg.incidents.retention, fence=leader.holds_lock))
        svc.singletons += [Reconciler(cfg, db, hooks, fence=leader.holds_lock)] if cfg.reconcile.enabled else []
        svc.singletons += [Forecaster(cfg, db, hooks, fence=leader.holds_lock)] if cfg.prevention.enabled else []
        svc.singletons += [SilenceMirror(cfg, db)] if cfg.windows.alertmanager_silences.enabled else []
        app.state.svc = svc
        app.state.signin = signin = SignIn(cfg, db, clock)  # console sign-in (docs/console.md)
        app.state.board = board = Board(db, stream_settings(cfg.console))  # live board streams (docs/console.md)
        ingestor.start()
        if isinstance(ingestor, ProcessIngestor):
            await ingestor.wait_ready()
        if tick_seconds > 0:
            escalation.start()
            if rem is not None:
                rem.start()  # woken by the commits that write run requests, like escalation
        scheduler = AsyncIOScheduler()
        if tick_seconds > 0:
            scheduler.add_job(tick, "interval", seconds=tick_seconds, args=[svc], max_instances=1,
                              coalesce=True, id="tick")
            scheduler.start()
        try:
            with stream_api.closed_on_exit_signal(board):  # uvicorn waits for open streams: end them first
                yield {}
        finally:
            await board.aclose()
            if scheduler.running:
                scheduler.shutdown(wait=False)
            await ingestor.stop()
            await signin.aclose()
            await escalation.close()
            if graphs is not None:
                graphs.close()
            if rem is not None:
                await rem.aclose()
            await asyncio.to_thread(leader.close)  # a successor takes over at its next tick, not after the lease
            db.close()

    app = _TocsinAPI(
        title="Tocsin", version=__version__, lifespan=lifespan,
        description="Alertmanager webhook in, deduplicated durable incidents out.",
    )
    app.add_middleware(ApiGuard, service=lambda: app.state.svc)
    app.add_middleware(RequestMetrics)
    app.include_router(incidents.router)
    app.include_router(health.router)
    app.include_router(slack.router)
    app.include_router(twilio.router)
    app.include_router(schedules.router)
    app.include_router(remediation.router)
    app.include_router(console.router)
    app.include_router(report.router)
    app.include_router(windows_api.router)
    app.include_router(stream_api.router)
    app.include_router(session_api.router)
    app.include_router(oidc_api.router)
    app.include_router(push_api.router)
    return app


class _TocsinAPI(FastAPI):
    def openapi(self) -> dict[str, Any]:
        """FastAPI's schema plus the webhook, which no FastAPI route serves (see build_asgi)."""
        if self.openapi_schema is None:
            super().openapi()["paths"][alertmanager.PATH] = alertmanager.OPENAPI
        assert self.openapi_schema is not None
        return self.openapi_schema


def build_asgi(app: FastAPI) -> ASGIApp:
    """The one entrance: the webhook's fast path in front of the app (`tocsin serve` and the tests serve this)."""
    return alertmanager.WebhookFastPath(app, service=lambda: app.state.svc)
