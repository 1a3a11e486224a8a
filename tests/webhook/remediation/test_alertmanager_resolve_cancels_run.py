"""Review finding 7: an Alertmanager resolve cancels the incident's pending run request, and a request already
claimed (waiting for a free slot in a storm) does not start a run against an incident resolved meanwhile."""

from __future__ import annotations

import asyncio

from tests.fakekube import FakeKube
from tests.support.remediation_env import Svc, count_rows, deliver_body, firing, scale_calls
from webhook.remediation import run_requests as requests


def resolved(alert: dict[str, object]) -> dict[str, object]:
    return {**alert, "status": "resolved", "endsAt": "2026-11-28T03:00:00Z"}


async def test_an_alertmanager_resolve_cancels_the_pending_request(svc: Svc, kube: FakeKube, db_url: str) -> None:
    alert = firing("ScaleMe")
    await svc.deliver(deliver_body(alert))
    incident = await svc.only_incident_id()
    assert count_rows(db_url, "remediation_requests", "state = 'pending'") == 1
    assert (await svc.deliver(deliver_body(resolved(alert)))).status_code == 200
    assert (await svc.incident(incident))["state"] == "resolved"
    assert count_rows(db_url, "remediation_requests", "state = 'cancelled' AND hold_until IS NULL") == 1
    assert await svc.rem.claim() == []
    assert await svc.rem.run_pending() == [] and scale_calls(kube) == 0
    assert count_rows(db_url, "remediation_runs") == 0


async def test_a_claimed_request_waiting_for_a_slot_does_not_run_after_the_resolve(
        svc: Svc, kube: FakeKube, db_url: str) -> None:
    alert = firing("ScaleMe")
    await svc.deliver(deliver_body(alert))
    [req] = await svc.rem.claim()  # claimed in a storm: every slot is busy
    slots = svc.rem._slots
    taken = 0
    while not slots.locked():
        await slots.acquire()
        taken += 1
    execute = asyncio.create_task(svc.rem.execute(req))
    await asyncio.sleep(0)  # execute now waits for a slot
    assert not execute.done()
    assert (await svc.deliver(deliver_body(resolved(alert)))).status_code == 200
    for _ in range(taken):
        slots.release()
    assert await execute is None
    assert scale_calls(kube) == 0 and count_rows(db_url, "remediation_runs") == 0
    assert count_rows(db_url, "remediation_requests", f"id = {req.id} AND state = '{requests.CANCELLED}'") == 1
