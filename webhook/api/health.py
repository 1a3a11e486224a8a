"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from webhook import metrics
from webhook.api.deps import ServiceDep
from webhook.escalation import repo as escalation_repo
from webhook.incidents import queries as incident_queries
from webhook.metrics import gauges_text
from webhook.remediation import queries as remediation_queries
from webhook.store.db import StorageUnavailable

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/readyz", summary="The database is reachable")
async def readyz(svc: ServiceDep) -> Response:
    try:
        await asyncio.wait_for(svc.db.ping(), 3)
    except (StorageUnavailable, TimeoutError):
        return Response('{"status":"database unreachable"}', 503, media_type="application/json")
    if not svc.ingestor.ready():
        return Response('{"status":"ingest not running"}', 503, media_type="application/json")
    return Response('{"status":"ready"}', 200, media_type="application/json")


def _db_gauges(rows: list[tuple[str, str, int]], runs_active: int) -> bytes:
    reg = CollectorRegistry(auto_describe=True)
    g = Gauge("tocsin_incidents_open", "Incidents not resolved, by severity and state.", ["severity", "state"],
              registry=reg)
    for sev, state, n in rows:
        g.labels(sev, state).set(n)
    Gauge("tocsin_remediation_runs_active", "Runbook runs in progress or awaiting approval.",
          registry=reg).set(runs_active)
    return generate_latest(reg)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def prometheus_metrics(svc: ServiceDep) -> Response:
    body = generate_latest(metrics.REGISTRY)
    with contextlib.suppress(StorageUnavailable):  # counters still useful; readyz reports the database
        body += _db_gauges(await svc.db.read(incident_queries.open_counts),
                           await svc.db.read(remediation_queries.active_runs))
        body += gauges_text(await svc.db.read(escalation_repo.gauges, svc.clock()))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
