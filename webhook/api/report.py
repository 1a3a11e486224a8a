"""GET /api/v1/report (the alert-quality report, scope `read`) and POST /api/v1/incidents/{id}/feedback
("was this actionable?", scope `respond`): docs/report.md."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict

from webhook.api.deps import ActorDep, ResponderDep, ServiceDep
from webhook.incidents.model import NotFound
from webhook.report.build import PeriodError, build_report, parse_period
from webhook.report.compute import Settings
from webhook.report.render import render
from webhook.report.repo import set_feedback
from webhook.store.db import StorageUnavailable

router = APIRouter(prefix="/api/v1", tags=["report"])
#: The HTML report is one self-contained page: inline styles and SVG, nothing loaded from anywhere.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actionable: bool
    #: The console says so; anything else calling the API is "api".
    channel: Literal["api", "console"] = "api"


@router.get("/report", summary="Alert-quality report of a period (JSON or a self-contained HTML page)")
async def report(
    svc: ServiceDep, _actor: ActorDep,
    since: Annotated[str | None, Query(description="e.g. 7d, 30d (default 30d)")] = None,
    start: Annotated[str | None, Query(alias="from", description="date or aware time")] = None,
    end: Annotated[str | None, Query(alias="to", description="date or aware time, default now")] = None,
    team: Annotated[str | None, Query(max_length=128)] = None,
    format: Annotated[Literal["json", "html"], Query()] = "json",
    zone: Annotated[str, Query(max_length=64, description="time zone of the charts")] = "UTC",
) -> Response:
    try:
        period = parse_period(svc.clock(), since, start, end)
    except PeriodError as exc:
        raise HTTPException(422, str(exc)) from exc
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise HTTPException(422, f"zone {zone!r} is not an IANA time zone such as Europe/Berlin") from exc
    try:
        data: dict[str, Any] = await svc.db.read(build_report, svc.cfg, period, team, Settings(chart_zone=zone))
    except StorageUnavailable as exc:
        raise HTTPException(503, "storage unavailable") from exc
    if format == "json":
        return Response(render(data, "json"), media_type="application/json")
    page = await asyncio.to_thread(render, data, "html")
    return HTMLResponse(page, headers={"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff",
                                       "Cache-Control": "no-store"})


@router.post("/incidents/{incident_id}/feedback", summary='"Was this actionable?" (one answer per person)')
async def feedback(incident_id: int, body: FeedbackBody, svc: ServiceDep, who: ResponderDep) -> dict[str, Any]:
    try:
        return await svc.db.write(set_feedback, incident_id, who, body.actionable, body.channel,
                                    svc.clock())
    except NotFound as exc:
        raise HTTPException(404, f"incident {incident_id} not found") from exc
    except StorageUnavailable as exc:
        raise HTTPException(503, "storage unavailable") from exc
