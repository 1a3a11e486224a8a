"""On-call schedules: the schedules view (now, next, the rotation ahead), overrides and swaps made at run time,
iCalendar subscription per schedule and who is on call at a time (docs/schedules.md)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from webhook.api.deps import ActorDep, ResponderDep, ServiceDep, console_session, forbidden, unauthenticated
from webhook.auth import api_key, check_api
from webhook.config.oncall import Schedule
from webhook.config.types import Name
from webhook.notifiers.base import Delivered
from webhook.oncall import changes
from webhook.oncall.ical import to_ical
from webhook.oncall.schedule import Shift, now_and_next, on_call, shifts
from webhook.service import Service
from webhook.store.db import StorageUnavailable

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
    schedule = (await _effective(svc, now - PAST)).schedule(name)
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
    schedules = (await _effective(svc, when)).schedules
    if schedule is not None:
        schedules = tuple(s for s in schedules if s.name == schedule)
        if not schedules:
            raise HTTPException(404, f"no schedule {schedule!r}")
    people = svc.cfg.oncall.responder_map()
    return {"at": when.isoformat(), "schedules": [
        {"name": s.name, "oncall": [{"name": user, "full_name": people[user].full_name, "source": source}
                                    for user, source in on_call(s, when)]} for s in schedules]}


# --- the schedules view, overrides and swaps -------------------------------------------------------------------
#: Changing other people's shifts needs this: an API token's scope, or a signed-in person's permission (the
#: `schedules` role in console.roles). The endpoints themselves take ResponderDep, not SchedulesDep, on purpose:
#: everyone who may respond may take a shift themself and must be able to answer a swap asked of them.
MANAGE = "schedules"


async def _actor(request: Request, name: str) -> changes.Actor:
    """The actor (already authenticated by ResponderDep, CSRF checked) and whether they manage schedules."""
    header = request.headers.get("authorization")
    if header:
        key = check_api(request.app.state.svc.creds, header)
        return changes.Actor(name, key is not None and MANAGE in key.scopes)
    session = await console_session(request)
    return changes.Actor(name, session is not None and MANAGE in session.person.permissions)


async def _effective(svc: Service, since: datetime) -> Any:
    try:
        return await svc.db.read(changes.effective, svc.cfg.oncall, since)
    except StorageUnavailable as exc:
        raise HTTPException(503, "storage unavailable") from exc


async def _call(svc: Service, fn: Any, *args: Any, write: bool = True) -> Any:
    """Run a change in one transaction; the domain's errors become 4xx answers that say what is wrong."""
    try:
        return await (svc.db.write(fn, *args) if write else svc.db.read(fn, *args))
    except StorageUnavailable as exc:
        raise HTTPException(503, "storage unavailable") from exc
    except changes.ChangeError as exc:
        raise HTTPException(422, str(exc)) from exc
    except changes.NotAllowed as exc:
        raise HTTPException(403, str(exc)) from exc
    except changes.ChangeNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except changes.ChangeConflict as exc:
        raise HTTPException(409, str(exc)) from exc


def _shift(s: Shift | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {"user": s.user, "start": s.start.isoformat(), "end": s.end.isoformat(), "source": s.source}


def _config_changes(s: Schedule, now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    overrides = [{"id": None, "origin": "config", "kind": "override", "state": "active", "user": o.user,
                  "start": o.start.isoformat(), "end": o.end.isoformat()} for o in s.overrides if o.end > now]
    swaps = [{"id": None, "origin": "config", "kind": "swap", "state": "accepted", "layer": w.layer,
              "mine": {"user": w.first.user, "at": w.first.at.isoformat()},
              "theirs": {"user": w.second.user, "at": w.second.at.isoformat()}} for w in s.swaps]
    return overrides, swaps


def _view(s: Schedule, merged: Schedule, stored: list[dict[str, Any]], now: datetime, weeks: int) -> dict[str, Any]:
    ahead = shifts(merged, now, now + timedelta(weeks=weeks))
    current, upcoming = now_and_next(merged, now, ahead)
    overrides, swaps = _config_changes(s, now)
    mine = [{**c, "origin": "stored"} for c in stored if c["schedule"] == s.name]
    return {"name": s.name, "timezone": s.timezone, "now": _shift(current), "next": _shift(upcoming),
            "shifts": [_shift(x) for x in ahead],
            "overrides": overrides + [c for c in mine if c["kind"] == "override"],
            "swaps": swaps + [c for c in mine if c["kind"] == "swap"]}


async def _views(svc: Service, name: str | None, weeks: int) -> list[dict[str, Any]]:
    now = svc.clock()
    base = svc.cfg.oncall.schedules
    if name is not None:
        base = tuple(s for s in base if s.name == name)
        if not base:
            raise HTTPException(404, f"no schedule {name!r}")
    merged, stored = await _call(svc, changes.for_view, svc.cfg.oncall, now, name, write=False)
    return [_view(s, merged.schedule(s.name), stored, now, weeks) for s in base]


Weeks = Annotated[int, Query(ge=1, le=12, description="weeks of shifts from now (default 4, at most 12)")]
ScheduleName = Annotated[str, Path(max_length=64)]


class OverrideBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: Name
    start: AwareDatetime
    end: AwareDatetime
    comment: str = Field("", max_length=changes.MAX_COMMENT)


class ShiftAt(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: Name | None = Field(None, description="whose shift; default: the actor (someone else: `schedules` role)")
    at: AwareDatetime = Field(description="any instant inside the shift")


class TheirShift(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: Name
    at: AwareDatetime = Field(description="any instant inside the shift")


class SwapBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    layer: Name
    mine: ShiftAt
    theirs: TheirShift
    comment: str = Field("", max_length=changes.MAX_COMMENT)
    accepted: bool = Field(False, description="`schedules` role only: the swap takes effect without consent")


@router.get("/schedules", summary="Every schedule: who is on call now and next, the shifts ahead, overrides, swaps")
async def list_schedules(svc: ServiceDep, _actor: ActorDep, weeks: Weeks = 4) -> dict[str, Any]:
    return {"schedules": await _views(svc, None, weeks)}


@router.get("/schedules/swaps", summary="Swaps the actor asked for or is asked to agree to (pending and accepted)")
async def my_swaps(request: Request, svc: ServiceDep, who: ActorDep,
                   mine: Annotated[bool, Query(description="only swaps waiting for the actor's answer")] = False,
                   ) -> dict[str, Any]:
    items: list[dict[str, Any]] = await _call(svc, changes.swaps_of, who, svc.clock(), write=False)
    if mine:
        items = [s for s in items if s["state"] == "pending" and s["theirs"]["user"] == who]
    return {"swaps": items}


@router.get("/schedules/{name}", summary="One schedule: now, next, the shifts ahead, overrides and swaps")
async def get_schedule(name: ScheduleName, svc: ServiceDep, _actor: ActorDep, weeks: Weeks = 4) -> dict[str, Any]:
    [view] = await _views(svc, name, weeks)
    return view


@router.post("/schedules/{name}/overrides", status_code=201, summary="Put someone on call for a while")
async def add_override(name: ScheduleName, body: OverrideBody, request: Request, svc: ServiceDep,
                       who: ResponderDep) -> dict[str, Any]:
    out: dict[str, Any] = await _call(svc, changes.add_override, svc.cfg.oncall, name, body.user, body.start,
                                      body.end, body.comment, await _actor(request, who), svc.clock())
    return out


@router.delete("/schedules/{name}/overrides/{override_id}", status_code=204, response_class=Response,
               summary="Delete an override")
async def delete_override(name: ScheduleName, override_id: int, request: Request, svc: ServiceDep,
                          who: ResponderDep) -> Response:
    await _call(svc, changes.delete_override, name, override_id, await _actor(request, who), svc.clock())
    return Response(status_code=204)


@router.post("/schedules/{name}/swaps", status_code=201,
             summary="Ask another person to trade shifts (pending until they accept)")
async def propose_swap(name: ScheduleName, body: SwapBody, request: Request, svc: ServiceDep,
                       who: ResponderDep) -> dict[str, Any]:
    out: dict[str, Any] = await _call(svc, changes.propose_swap, svc.cfg.oncall, name, body.layer,
                                      (body.mine.user, body.mine.at), (body.theirs.user, body.theirs.at),
                                      body.comment, await _actor(request, who), svc.clock(), body.accepted)
    out["notice"] = await _ask(request, svc, out) if out["state"] == "pending" else None
    return out


async def _ask(request: Request, svc: Service, swap: dict[str, Any]) -> dict[str, Any] | None:
    """Tell the other person a swap waits for them: one short text through their first contact channel that can
    carry one (the sign-in codes' path; voice and push cannot). Never fails the request: the swap is stored and
    listed for them (GET /api/v1/schedules/swaps?mine=true) whatever happens here."""
    asked = svc.cfg.oncall.responder_map()[swap["theirs"]["user"]]
    messenger = request.app.state.signin.messenger
    available = messenger.available()
    target = next(((rule.channel, address) for rule in asked.contact_rules if rule.channel in available
                   and (address := asked.address(rule.channel))), None)
    if target is None:
        return {"channel": None, "delivered": False, "error": "no contact channel of theirs can carry a message"}
    subject, text = changes.swap_request_text(swap, asked)
    result = await messenger.send(target[0], target[1], subject, text)
    delivered = isinstance(result, Delivered)
    return {"channel": target[0], "delivered": delivered, "error": None if delivered else result.reason}


@router.post("/schedules/swaps/{swap_id}/{action}", summary="accept or decline (the other person), cancel "
             "(the requester) a pending swap")
async def decide_swap(swap_id: int, action: Literal["accept", "decline", "cancel"], request: Request,
                      svc: ServiceDep, who: ResponderDep) -> dict[str, Any]:
    actor = await _actor(request, who)
    out: dict[str, Any] = await _call(svc, changes.decide_swap, swap_id, action, actor, svc.clock())
    return out
