"""On-call schedules: iCalendar subscription per schedule and who is on call at a time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response

from webhook.api.deps import forbidden, unauthenticated
from webhook.auth import api_key, check_api
from webhook.oncall.ical import to_ical
from webhook.oncall.schedule import on_call
from webhook.service import Service

router = APIRouter(prefix="/api/v1", tags=["schedules"])

PAST = timedelta(days=7)
FUTURE = timedelta(days=90)


def _reader(request: Request) -> Service:
    """An API token with the `read` or `calendar` scope in the header, or a calendar token as `?token=` for
    calendar apps that cannot send headers. A URL ends up in calendar servers and proxy logs, so `?token=`
    accepts only tokens whose one scope is `calendar`: they can do nothing else."""
    svc: Service = request.app.state.svc
    header = request.headers.get("authorization")
    token = request.query_params.get("token")
    if header:
        key = check_api(svc.creds, header)
        if key is None:
            raise unauthenticated()
        if not key.scopes & {"read", "calendar"}:
            raise forbidden(key.name, "read")
        return svc
    if not token:
        raise unauthenticated("send an API token (Authorization header, or a calendar token as ?token=)")
    key = api_key(svc.creds, token.encode())
    if key is None:
        raise unauthenticated("send an API token (Authorization header, or a calendar token as ?token=)")
    if key.scopes != {"calendar"}:
        raise HTTPException(403, f"API token {key.name!r} may not be sent in a URL: ?token= accepts only tokens "
                                 "whose scopes are [calendar] (auth.api_tokens[].scopes); send this one in the "
                                 "Authorization header")
    return svc


@router.get("/schedules/{name}.ics", summary="iCalendar of a schedule's final shifts (7 days back, 90 ahead)",
            response_class=Response)
async def ical(name: str, request: Request) -> Response:
    svc = _reader(request)
    try:
        schedule = svc.cfg.oncall.schedule(name)
    except KeyError as exc:
        raise HTTPException(404, f"no schedule {name!r}") from exc
    now = svc.clock()
    body = to_ical(schedule, now - PAST, now + FUTURE, stamp=now)
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": f'inline; filename="{schedule.name}.ics"'})


@router.get("/oncall", summary="Who is on call at a time (default now), per schedule")
async def oncall(request: Request, schedule: Annotated[str | None, Query(max_length=64)] = None,
                 at: Annotated[datetime | None, Query(description="ISO time with zone")] = None) -> dict[str, Any]:
    svc = _reader(request)
    if at is not None and at.tzinfo is None:
        raise HTTPException(422, "at needs a time zone, e.g. 2026-11-28T03:00:00Z")
    when = at or svc.clock()
    schedules = svc.cfg.oncall.schedules
    if schedule is not None:
        schedules = tuple(s for s in schedules if s.name == schedule)
        if not schedules:
            raise HTTPException(404, f"no schedule {schedule!r}")
    people = svc.cfg.oncall.responder_map()
    return {"at": when.isoformat(), "schedules": [
        {"name": s.name, "oncall": [{"name": user, "full_name": people[user].full_name, "source": source}
                                    for user, source in on_call(s, when)]} for s in schedules]}
