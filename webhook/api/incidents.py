"""Incident API: list (filters, search, urgency order), show with timeline, deliveries, runs and links; acknowledge,
resolve, snooze, note, escalate now, reassign."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from webhook.api.common import action_answer, api_action, incident_errors
from webhook.api.deps import ActorDep, ResponderDep, ServiceDep
from webhook.board import queries as board_queries
from webhook.board.repo import MAX_NOTE, add_note
from webhook.config.types import parse_duration
from webhook.escalation import actions as manual
from webhook.graphs.maker import GraphMaker, NoGraph
from webhook.incidents import queries
from webhook.incidents.model import NotFound, TransitionError
from webhook.store.db import StorageUnavailable
from webhook.windows import ops as window_ops
from webhook.windows import repo as window_repo
from webhook.windows.spec import SpecError

router = APIRouter(prefix="/api/v1", tags=["incidents"])


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=2000)


class SnoozeBody(ActionBody):
    until: datetime | None = None
    duration: str | None = Field(None, description="e.g. 30m, 1h, 1d")

    @field_validator("until")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("until needs a time zone, e.g. 2026-11-28T12:00:00Z")
        return v


def _parse_labels(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise HTTPException(422, f"label filter {item!r}: use name=value")
        out[name] = value
    return out


@router.get("/incidents", summary="List incidents, newest first or by urgency")
async def list_incidents(
    svc: ServiceDep, _actor: ActorDep,
    state: Annotated[list[Literal["triggered", "acknowledged", "snoozed", "resolved"]] | None, Query()] = None,
    severity: Annotated[list[str] | None, Query(max_length=16)] = None,
    label: Annotated[list[str] | None, Query(description="name=value, repeatable")] = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 100,
    before: Annotated[int | None, Query(description="page: only ids below this")] = None,
    team: Annotated[list[str] | None, Query(max_length=50, description="the team label's value, repeatable")] = None,
    q: Annotated[str | None, Query(max_length=queries.MAX_SEARCH,
                                   description="case-insensitive text in title, summary or any label value")] = None,
    sort: Annotated[Literal["newest", "urgency"], Query(description="newest first, or by urgency")] = "newest",
) -> dict[str, Any]:
    if sort == "urgency" and before is not None:
        raise HTTPException(422, "before pages the newest-first order only (sort=newest)")
    if any(len(t) > 128 for t in team or []):
        raise HTTPException(422, "a team name has at most 128 characters")
    f = queries.IncidentFilter(list(state) if state else None, severity, _parse_labels(label or []), limit, before,
                               teams=team, team_label=svc.cfg.escalation.noise.team_label, search=q or None,
                               sort=sort)
    try:
        marker = await svc.db.read(board_queries.top_marker)  # read first: a change after it is on the stream
        items = await svc.db.read(queries.list_incidents, f)
    except StorageUnavailable as exc:
        raise HTTPException(503, "storage unavailable") from exc
    more = len(items) == limit and sort == "newest"
    return {"incidents": items, "next_before": items[-1]["id"] if more else None, "marker": marker}


@router.get("/incidents/{incident_id}",
            summary="One incident with its alerts, timeline, pages and their delivery state, runbook runs, links")
async def get_incident(incident_id: int, svc: ServiceDep, _actor: ActorDep) -> dict[str, Any]:
    now = svc.clock()
    managers = svc.cfg.reconcile.alertmanagers
    try:
        found = await svc.db.read(queries.get_incident, incident_id)
        covering = await svc.db.read(window_repo.covering_incident, incident_id, now)
        deliveries = await svc.db.read(board_queries.incident_deliveries, incident_id, now)
        runs = await svc.db.read(board_queries.incident_runs, incident_id)
        links = await svc.db.read(board_queries.incident_links, found, str(managers[0]) if managers else None)
        return {**found, "windows": [w.to_json(now) for w in covering],  # maintenance windows active for it
                "deliveries": deliveries, "runs": runs, "links": links}
    except NotFound as exc:
        raise HTTPException(404, f"incident {incident_id} not found") from exc
    except StorageUnavailable as exc:
        raise HTTPException(503, "storage unavailable") from exc


@router.get("/incidents/{incident_id}/graph.png", summary="The graph of the incident's alert (docs/graphs.md)",
            response_class=Response, responses={200: {"content": {"image/png": {}}},
                                                404: {"description": "no plottable alert, or graphs are off"},
                                                503: {"description": "Prometheus unreachable"}})
async def graph(incident_id: int, request: Request, svc: ServiceDep, _actor: ActorDep) -> Response:
    maker: GraphMaker | None = getattr(request.app.state, "graphs", None)
    if maker is None:
        raise HTTPException(404, "graphs are off: set prometheus.url (and graphs.enabled)")
    try:
        found = await maker.for_incident(svc.db, incident_id)
    except StorageUnavailable as exc:
        raise HTTPException(503, "storage unavailable") from exc
    if isinstance(found, NoGraph):
        if found.transient:
            raise HTTPException(503, f"no graph: {found.reason}")
        raise HTTPException(404, f"no graph for incident {incident_id}: {found.reason}")
    return Response(found.png, media_type="image/png",
                    headers={"Cache-Control": "private, max-age=60", "X-Content-Type-Options": "nosniff",
                             "Content-Disposition": f'inline; filename="{found.filename}"'})


@router.post("/incidents/{incident_id}/ack", summary="Acknowledge: stops escalation")
async def ack(incident_id: int, svc: ServiceDep, who: ResponderDep, body: ActionBody | None = None) -> dict[str, Any]:
    return await api_action(svc, incident_id, "ack", who, body.note if body else "")


@router.post("/incidents/{incident_id}/resolve", summary="Resolve by hand")
async def resolve(incident_id: int, svc: ServiceDep, who: ResponderDep,
                  body: ActionBody | None = None) -> dict[str, Any]:
    return await api_action(svc, incident_id, "resolve", who, body.note if body else "")


@router.post("/incidents/{incident_id}/snooze", summary="Snooze until a time or for a duration")
async def snooze(incident_id: int, body: SnoozeBody, svc: ServiceDep, who: ResponderDep) -> dict[str, Any]:
    if (body.until is None) == (body.duration is None):
        raise HTTPException(422, "give exactly one of until or duration")
    until = body.until
    if body.duration is not None:
        try:
            delta = parse_duration(body.duration)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        if delta <= timedelta(0) or delta > timedelta(days=30):
            raise HTTPException(422, "duration must be between 1s and 30d")
        until = svc.clock() + delta
    return await api_action(svc, incident_id, "snooze", who, body.note, until)


class SilenceBody(ActionBody):
    duration: str = Field("2h", description="how long the window on the incident's key labels lasts, e.g. 2h")


@router.post("/incidents/{incident_id}/ack-and-silence",
             summary="Acknowledge, and set a maintenance window on the incident's key labels (docs/windows.md)")
async def ack_and_silence(incident_id: int, svc: ServiceDep, who: ResponderDep,
                          body: SilenceBody | None = None) -> dict[str, Any]:
    body = body or SilenceBody()
    now = svc.clock()
    with incident_errors(incident_id):
        try:
            res, window = await svc.db.write(window_ops.ack_and_silence, incident_id, who, now, body.duration,
                                             body.note, svc.hooks)
        except SpecError as exc:
            raise HTTPException(422, str(exc)) from exc
    return {**action_answer(incident_id, who, now, res), "window": window.to_json(now)}


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=MAX_NOTE)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("a note needs some text")
        return v


class EscalateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("", max_length=500)


class ReassignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(min_length=1, max_length=200, description="a responder name, schedule:<name> or team:<name>")


def _refused(exc: Exception, incident_id: int) -> HTTPException:
    if isinstance(exc, NotFound):
        return HTTPException(404, f"incident {incident_id} not found")
    if isinstance(exc, TransitionError):
        return HTTPException(409, str(exc))
    if isinstance(exc, manual.UnknownTarget):
        return HTTPException(422, str(exc))
    return HTTPException(503, "storage unavailable")


@router.post("/incidents/{incident_id}/notes", status_code=201, summary="Add a note to the incident's timeline")
async def note(incident_id: int, body: NoteBody, svc: ServiceDep, who: ResponderDep) -> dict[str, Any]:
    now = svc.clock()
    try:
        event_id = await svc.db.write(add_note, incident_id, who, body.text, now)
    except (NotFound, StorageUnavailable) as exc:
        raise _refused(exc, incident_id) from exc
    return {"id": event_id, "incident_id": incident_id, "kind": "note", "actor": who, "at": now.isoformat(),
            "detail": {"text": body.text}}


@router.post("/incidents/{incident_id}/escalate", summary="Escalate now: the next escalation step fires at once")
async def escalate(incident_id: int, svc: ServiceDep, who: ResponderDep,
                   body: EscalateBody | None = None) -> dict[str, Any]:
    reason = body.reason if body else ""

    def run(conn: Any) -> dict[str, Any]:
        out = manual.escalate_now(conn, incident_id, who, reason, now)
        svc.hooks.on_action(conn, incident_id, "escalate", who, now, out)  # wakes the step timer after the commit
        return out

    now = svc.clock()
    try:
        done = await svc.db.write(run)
    except (NotFound, TransitionError, StorageUnavailable) as exc:
        raise _refused(exc, incident_id) from exc
    return {"id": incident_id, "by": who, **done}


@router.post("/incidents/{incident_id}/reassign",
             summary="Page another responder, schedule or team now, as part of the incident's escalation")
async def reassign(incident_id: int, body: ReassignBody, svc: ServiceDep, who: ResponderDep) -> dict[str, Any]:
    def run(conn: Any) -> dict[str, Any]:
        out = manual.reassign(conn, svc.cfg, incident_id, who, body.to, now)
        svc.hooks.on_action(conn, incident_id, "reassign", who, now, out)  # wakes the outbox after the commit
        return out

    now = svc.clock()
    try:
        done = await svc.db.write(run)
    except (NotFound, TransitionError, manual.UnknownTarget, StorageUnavailable) as exc:
        raise _refused(exc, incident_id) from exc
    return {"id": incident_id, "by": who, **done}
