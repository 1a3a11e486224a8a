"""Incident -> run request -> run, in the service: one run per episode, the escalation hold, timeline, restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import create_engine, select

from remediator.records import Outcome, RunStatus
from tests.fakekube import FakeKube
from tests.support.clock import FakeClock
from tests.support.harness import make_config
from tests.support.remediation_env import (
    HOLD,
    Sleeper,
    Svc,
    count_rows,
    deliver_body,
    firing,
    remediation_config,
    scale_calls,
    start_service,
)
from webhook.app import build_asgi, create_app
from webhook.remediation import run_requests as requests
from webhook.remediation.tables import remediation_requests


def held(svc: Svc, incident_id: int) -> object:
    engine = create_engine(str(svc.rem.db.engine.url.render_as_string(hide_password=False)))
    with engine.begin() as conn:
        until = requests.held_until(conn, incident_id, svc.clock())
    engine.dispose()
    return until


async def test_the_same_webhook_delivered_50_times_starts_exactly_one_run(svc: Svc, kube: FakeKube,
                                                                          db_url: str) -> None:
    body = deliver_body(firing("ScaleMe"))
    responses = await asyncio.gather(*(svc.deliver(body) for _ in range(50)))
    assert {r.status_code for r in responses} == {200}
    incident = await svc.only_incident_id()
    assert held(svc, incident) == svc.clock() + HOLD  # held from the ingest transaction on
    [run] = await svc.rem.run_pending()
    for _ in range(3):
        await svc.deliver(body)
        assert await svc.rem.run_pending() == []
    assert run.outcome is Outcome.COMPLETED and run.incident_id == str(incident)
    assert count_rows(db_url, "remediation_requests") == 1 and count_rows(db_url, "remediation_runs") == 1
    assert scale_calls(kube) == 1
    assert held(svc, incident) is None  # completed (no verify query) needs a human: escalation resumes now
    kinds = [e["kind"] for e in (await svc.incident(incident))["timeline"]]
    assert kinds[0] == "opened" and kinds[-3:] == ["remediation_started", "remediation_progress",
                                                   "remediation_completed"]
    finished = (await svc.incident(incident))["timeline"][-1]
    assert finished["actor"] == "tocsin-remediation" and finished["detail"]["page"] is True


async def test_alerts_no_runbook_matches_start_nothing(svc: Svc, kube: FakeKube, db_url: str) -> None:
    await svc.deliver(deliver_body(firing("HighErrorRate")))
    assert await svc.rem.run_pending() == []
    assert count_rows(db_url, "remediation_requests") == 0 and scale_calls(kube) == 0


async def test_an_incident_resolved_before_the_worker_came_needs_no_run(svc: Svc, kube: FakeKube) -> None:
    await svc.deliver(deliver_body(firing("ScaleMe")))
    incident = await svc.only_incident_id()
    assert (await svc.api("POST", f"/api/v1/incidents/{incident}/resolve")).status_code == 200
    assert await svc.rem.run_pending() == [] and scale_calls(kube) == 0
    assert held(svc, incident) is None


async def test_two_replicas_on_postgresql_start_one_run(fresh_pg_url: str, tmp_path: Path, kube: FakeKube,
                                                        clock: FakeClock) -> None:
    cfg = remediation_config(fresh_pg_url, tmp_path, kube)
    a_gen, b_gen = start_service(cfg, clock, Sleeper(clock)), start_service(cfg, clock, Sleeper(clock))
    a, b_ = await anext(a_gen), await anext(b_gen)
    try:
        body = deliver_body(firing("ScaleMe"))
        await asyncio.gather(*(svc.deliver(body) for svc in (a, b_) for _ in range(10)))
        runs = [r for batch in await asyncio.gather(a.rem.run_pending(), b_.rem.run_pending()) for r in batch]
        assert len(runs) == 1 and scale_calls(kube) == 1
        # a replica that claimed the request but died before marking it done: the retry finds the same run
        row = await a.rem.db.read(lambda c: c.execute(select(remediation_requests)).one())
        req = requests.RunRequest(row.id, row.incident_id, row.runbook_id, row.fingerprint, row.starts_at,
                                  row.labels, row.annotations)
        assert (await b_.rem.execute(req)) == (await a.rem.store.get_run(runs[0].id))
        assert count_rows(fresh_pg_url, "remediation_runs") == 1 and scale_calls(kube) == 1
    finally:
        for gen in (a_gen, b_gen):
            await gen.aclose()


async def test_a_run_interrupted_by_a_restart_is_escalated_not_re_executed(db_url: str, tmp_path: Path,
                                                                           kube: FakeKube, clock: FakeClock) -> None:
    cfg = remediation_config(db_url, tmp_path, kube)
    sleeper = Sleeper(clock)
    first = start_service(cfg, clock, sleeper)
    svc = await anext(first)
    await svc.deliver(deliver_body(firing("VerifyMe")))
    incident = await svc.only_incident_id()
    sleeper.block = True  # verification waits between polls: the process dies there
    task = asyncio.create_task(svc.rem.run_pending())
    await sleeper.blocked.wait()
    assert scale_calls(kube) == 1
    assert (await svc.incident(incident))["timeline"][-1]["kind"] == "remediation_verifying"
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await first.aclose()

    second = start_service(cfg, clock, Sleeper(clock))
    svc = await anext(second)
    try:
        assert await svc.rem.engine.tick() == []  # not stale yet: it might still be running elsewhere
        clock.advance(minutes=16)
        [run] = await svc.rem.engine.tick()
        assert run.outcome is Outcome.ESCALATED and "not re-executed" in run.reason
        assert scale_calls(kube) == 1
        last = (await svc.incident(incident))["timeline"][-1]
        assert last["kind"] == "remediation_escalated" and last["detail"]["page"] is True
        assert held(svc, incident) is None
    finally:
        await second.aclose()


async def test_the_escalation_step_trigger_waits_for_the_escalation(db_url: str, tmp_path: Path, kube: FakeKube,
                                                                   clock: FakeClock) -> None:
    cfg = remediation_config(db_url, tmp_path, kube, trigger="escalation_step", trigger_step=2)
    gen = start_service(cfg, clock, Sleeper(clock))
    svc = await anext(gen)
    try:
        await svc.deliver(deliver_body(firing("ScaleMe")))
        incident = await svc.only_incident_id()
        assert await svc.rem.run_pending() == [] and held(svc, incident) is None
        assert await svc.rem.db.write(requests.escalation_step_reached, incident, 1, clock()) == 0
        assert await svc.rem.db.write(requests.escalation_step_reached, incident, 2, clock()) == 1
        [run] = await svc.rem.run_pending()
        assert run.status is RunStatus.FINISHED and scale_calls(kube) == 1
    finally:
        await gen.aclose()


async def test_without_a_cluster_the_service_runs_as_before(db_url: str, tmp_path: Path, clock: FakeClock) -> None:
    app = create_app(make_config(db_url, tmp_path), clock=clock, tick_seconds=0)
    async with app.router.lifespan_context(app):
        assert app.state.remediation is None
        import httpx

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build_asgi(app)), base_url="http://t") as client:
            from tests.support.harness import API_TOKEN, WEBHOOK_TOKEN

            ok = await client.post("/webhook/alertmanager", json=deliver_body(firing("ScaleMe")),
                                   headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
            runs = await client.get("/api/v1/runs", headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert ok.status_code == 200
    assert runs.status_code == 404 and "not enabled" in runs.json()["detail"]
    assert count_rows(db_url, "remediation_requests") == 0
