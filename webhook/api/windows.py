"""Maintenance windows API (docs/windows.md): create, list, show, end now; creating and ending need the `windows`
scope (API tokens) or permission (console.roles for signed-in people)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from webhook.api.deps import ActorDep, ServiceDep, WindowsDep
from webhook.store.db import StorageUnavailable
from webhook.windows import ops, repo
from webhook.windows.spec import MAX_COMMENT, SpecError, build

router = APIRouter(prefix="/api/v1", tags=["windows"])


class Recurrence(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    days: list[str] | str = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                  description='["sun"] or "sat,sun"')
    start: str = Field(alias="from", description="local time, e.g. 02:00")
    end: str = Field(alias="to", description="local time; before `from` spans midnight")
    timezone: str = "UTC"


class WindowBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    matchers: list[str] = Field(description='Alertmanager matchers, e.g. ["alertname=\\"DiskFull\\"", '
                                            '"namespace=~\\"shop.*\\""]')
    starts_at: datetime | None = Field(None, description="default now (one-off); a lower bound (recurring)")
    ends_at: datetime | None = None
    duration: str | None = Field(None, description="instead of ends_at, e.g. 2h")
    recurrence: Recurrence | None = None
    comment: str = Field("", max_length=MAX_COMMENT)


async def _write(svc: ServiceDep, fn: Any, *args: Any) -> Any:
    try:
        return await svc.db.write(fn, *args)
    except StorageUnavailable as exc:
        raise HTTPException(503, "storage unavailable") from exc


@router.post("/windows", status_code=201, summary="Create a maintenance window")
async def create_window(body: WindowBody, svc: ServiceDep, who: WindowsDep) -> dict[str, Any]:
    now = svc.clock()
    rec = body.recurrence.model_dump(by_alias=True) if body.recurrence else None
    try:
        spec = build(body.matchers, now, starts_at=body.starts_at, ends_at=body.ends_at, duration=body.duration,
                     recurrence=rec, comment=body.comment)
    except SpecError as exc:
        raise HTTPException(422, str(exc)) from exc
    w = await _write(svc, ops.create, spec, who, now)
    return w.to_json(now)  # type: ignore[no-any-return]


@router.get("/windows", summary="Current and upcoming windows (all=true: every window; active=true: active now)")
async def list_windows(svc: ServiceDep, _actor: ActorDep, active: Annotated[bool, Query()] = False,
                       everything: Annotated[bool, Query(alias="all")] = False) -> dict[str, Any]:
    now = svc.clock()
    try:
        items = await svc.db.read(lambda conn: repo.listing(conn, now, everything=everything))
    except StorageUnavailable as exc:
        raise HTTPException(503, "storage unavailable") from exc
    return {"windows": [w.to_json(now) for w in items if not active or w.active(now)]}


@router.get("/windows/{window_id}", summary="One window")
async def get_window(window_id: int, svc: ServiceDep, _actor: ActorDep) -> dict[str, Any]:
    try:
        w = await svc.db.read(repo.get, window_id)
    except repo.WindowNotFound as exc:
        raise HTTPException(404, f"window {window_id} not found") from exc
    except StorageUnavailable as exc:
        raise HTTPException(503, "storage unavailable") from exc
    return w.to_json(svc.clock())


@router.post("/windows/{window_id}/end", summary="End a window now: held pages of incidents still firing go out")
async def end_window(window_id: int, svc: ServiceDep, who: WindowsDep) -> dict[str, Any]:
    now = svc.clock()
    try:
        w, released = await _write(svc, ops.end, window_id, who, now, svc.hooks)
    except repo.WindowNotFound as exc:
        raise HTTPException(404, f"window {window_id} not found") from exc
    except repo.WindowOver as exc:
        raise HTTPException(409, str(exc)) from exc
    return {**w.to_json(now), "released_incidents": released}
