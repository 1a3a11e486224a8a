"""Remediation API: runbooks, runs with steps and audit, approve/reject/abort, the audit log of action attempts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from remediator.records import RunStatus
from webhook.api.deps import ActorDep, ApproverDep, RemediatorDep, ServiceDep
from webhook.remediation import queries
from webhook.remediation.run_store import run_pk
from webhook.remediation.service import DecisionRefused, Remediation
from webhook.service import Service
from webhook.store.db import StorageUnavailable

router = APIRouter(prefix="/api/v1", tags=["remediation"])
RunId = Annotated[str, Field(max_length=32)]
Status = Literal["pending", "running", "awaiting_approval", "finished"]


def remediation(request: Request) -> Remediation:
    rem: Remediation | None = getattr(request.app.state, "remediation", None)
    if rem is None:
        raise HTTPException(404, "remediation is not enabled on this server (remediation.enabled, cluster)")
    return rem


RemediationDep = Annotated[Remediation, Depends(remediation)]


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=2000)


def _unavailable(exc: StorageUnavailable) -> HTTPException:
    return HTTPException(503, "storage unavailable")


@router.get("/runbooks", summary="The loaded runbooks")
async def list_runbooks(_actor: ActorDep, rem: RemediationDep) -> dict[str, Any]:
    return {"runbooks": [r.model_dump(mode="json") for r in rem.runbooks]}


@router.get("/runs", summary="Runbook runs, newest first")
async def list_runs(
    svc: ServiceDep, _actor: ActorDep, _rem: RemediationDep,
    incident: Annotated[str | None, Query(max_length=64)] = None,
    runbook: Annotated[str | None, Query(max_length=63)] = None,
    status: Annotated[list[Status] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 100,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    try:
        items = await svc.db.read(lambda conn: queries.list_runs(conn, incident_id=incident, runbook_id=runbook,
                                                              status=list(status or []), limit=limit, before=before))
    except StorageUnavailable as exc:
        raise _unavailable(exc) from exc
    return {"runs": items, "next_before": items[-1]["id"] if len(items) == limit else None}


@router.get("/runs/{run_id}", summary="One run with its steps, approvals and audit entries")
async def get_run(run_id: RunId, svc: ServiceDep, _actor: ActorDep, _rem: RemediationDep) -> dict[str, Any]:
    try:
        found = await svc.db.read(queries.run_detail, run_id)
    except StorageUnavailable as exc:
        raise _unavailable(exc) from exc
    if found is None:
        raise HTTPException(404, f"run {run_id} not found")
    return found


def _refused(exc: DecisionRefused) -> HTTPException:
    return HTTPException(404 if exc.unknown else 409, exc.reason)


async def _decide(svc: Service, rem: Remediation, run_id: str, approved: bool, who: str) -> dict[str, Any]:
    if not svc.cfg.remediation.approvals.allows(who, svc.cfg.oncall):
        raise HTTPException(403, f"{who} is not an approver (remediation.approvals)")
    try:
        record = await rem.decide(run_id, approved, who)
    except DecisionRefused as exc:
        raise _refused(exc) from exc
    except StorageUnavailable as exc:
        raise _unavailable(exc) from exc
    return {"run_id": record.run_id, "step": record.step_index, "decision": str(record.decision), "by": who}


@router.post("/runs/{run_id}/approve", status_code=202, summary="Approve the step the run waits at; it resumes")
async def approve(run_id: RunId, svc: ServiceDep, who: ApproverDep, rem: RemediationDep,
                  body: DecisionBody | None = None) -> dict[str, Any]:
    return await _decide(svc, rem, run_id, True, who)


@router.post("/runs/{run_id}/reject", status_code=202, summary="Reject the step the run waits at; it aborts")
async def reject(run_id: RunId, svc: ServiceDep, who: ApproverDep, rem: RemediationDep,
                 body: DecisionBody | None = None) -> dict[str, Any]:
    return await _decide(svc, rem, run_id, False, who)


@router.post("/runs/{run_id}/abort", status_code=202, summary="Abort a pending, running or waiting run")
async def abort(run_id: RunId, who: RemediatorDep, rem: RemediationDep,
                body: DecisionBody | None = None) -> dict[str, Any]:
    try:
        run = await rem.run_in(run_id, (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.AWAITING_APPROVAL))
    except DecisionRefused as exc:
        raise _refused(exc) from exc
    except StorageUnavailable as exc:
        raise _unavailable(exc) from exc
    rem.spawn(rem.engine.abort(run.id, by=who), f"abort run {run.id}")
    return {"run_id": run.id, "status": "aborting", "by": who}


@router.get("/audit", summary="Action attempts and refusals: who or what, runbook, parameters, dry run, result")
async def list_audit(
    svc: ServiceDep, _actor: ActorDep, _rem: RemediationDep,
    run: Annotated[str | None, Query(max_length=32)] = None,
    runbook: Annotated[str | None, Query(max_length=63)] = None,
    incident: Annotated[str | None, Query(max_length=64)] = None,
    kind: Annotated[list[str] | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 100,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    if run is not None and run_pk(run) is None:
        raise HTTPException(422, f"run {run!r} is not a run id")
    try:
        items = await svc.db.read(lambda conn: queries.list_audit(conn, run_id=run, runbook_id=runbook,
                                                               incident_id=incident, kind=kind, limit=limit,
                                                               before=before))
    except StorageUnavailable as exc:
        raise _unavailable(exc) from exc
    return {"entries": items, "next_before": items[-1]["id"] if len(items) == limit else None}
