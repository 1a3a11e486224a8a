"""The board's actions (note, escalate now, reassign) through the fake vendors, and the incident page's extra keys:
deliveries with their state, runbook runs with their steps, links."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, insert

from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio
from tests.support.clock import FakeClock
from tests.support.escalation_env import BOB, CAROL, READER_TOKEN, Env, esc_config, run
from tests.support.harness import start_harness
from tests.support.payloads import alert, payload
from webhook.remediation.tables import remediation_runs, remediation_steps


@pytest.fixture
async def board_env(tmp_path: Path, fake_slack: FakeSlack, fake_twilio: FakeTwilio,
                    fake_pagerduty: FakePagerDuty) -> AsyncIterator[Env]:
    cfg = esc_config(f"sqlite:///{tmp_path / 'tocsin.db'}", tmp_path, fake_slack, fake_twilio, fake_pagerduty)
    async for h in start_harness(cfg, FakeClock()):
        yield Env(h, fake_slack, fake_twilio, fake_pagerduty)


async def _post(env: Env, path: str, body: Any = None, **kw: Any) -> Any:
    return await env.h.api("POST", path, json=body, **kw)


async def test_notes_land_on_the_timeline_and_bad_ones_are_refused(board_env: Env) -> None:
    iid = await board_env.page(severity="low")
    r = await _post(board_env, f"/api/v1/incidents/{iid}/notes", {"text": "checking the <b>db</b>"})
    assert r.status_code == 201 and r.json()["actor"] == "alice"
    note = (await board_env.incident(iid))["timeline"][-1]
    assert (note["kind"], note["actor"], note["detail"]) == ("note", "alice", {"text": "checking the <b>db</b>"})
    for bad in ({"text": ""}, {"text": "   "}, {"text": "x" * 2001}, {"text": "ok", "extra": 1}, {}, ["text"]):
        assert (await _post(board_env, f"/api/v1/incidents/{iid}/notes", bad)).status_code == 422, bad
    assert (await _post(board_env, "/api/v1/incidents/99999/notes", {"text": "hi"})).status_code == 404
    assert (await board_env.h.client.post(f"/api/v1/incidents/{iid}/notes", json={"text": "hi"})).status_code == 401
    reader = {"Authorization": f"Bearer {READER_TOKEN}"}
    r = await board_env.h.client.post(f"/api/v1/incidents/{iid}/notes", json={"text": "hi"}, headers=reader)
    assert r.status_code == 403


async def test_escalate_now_fires_the_next_step_and_refuses_past_the_last(board_env: Env) -> None:
    env = board_env
    iid = await env.page(severity="high")  # policy high: slack + primary now, secondary (bob, SMS) after 15m
    await run(env.h)
    assert [m.to for m in env.twilio.messages] == []
    r = await _post(env, f"/api/v1/incidents/{iid}/escalate", {"reason": "db is down, need bob"})
    assert r.status_code == 200, r.text
    assert [s["step"] for s in r.json()["steps"]] == [2] and r.json()["by"] == "alice"
    await run(env.h)
    assert [m.to for m in env.twilio.messages] == [BOB]  # the step's page went out now, not in 15 minutes
    ev = [e for e in (await env.incident(iid))["timeline"] if e["kind"] == "escalated_now"]
    assert ev[0]["actor"] == "alice" and ev[0]["detail"]["reason"] == "db is down, need bob"
    r = await _post(env, f"/api/v1/incidents/{iid}/escalate")
    assert r.status_code == 409 and "no further step" in r.json()["detail"]
    assert (await _post(env, f"/api/v1/incidents/{iid}/escalate", {"reason": "x" * 501})).status_code == 422
    assert (await _post(env, f"/api/v1/incidents/{iid}/escalate", {"why": "x"})).status_code == 422
    assert (await _post(env, "/api/v1/incidents/99999/escalate")).status_code == 404
    await _post(env, f"/api/v1/incidents/{iid}/ack")
    r = await _post(env, f"/api/v1/incidents/{iid}/escalate")
    assert r.status_code == 409 and "acknowledged" in r.json()["detail"]


async def test_reassign_pages_the_new_target_and_lists_what_exists_for_unknown(board_env: Env) -> None:
    env = board_env
    iid = await env.page(severity="high")
    await run(env.h)
    r = await _post(env, f"/api/v1/incidents/{iid}/reassign", {"to": "carol"})
    assert r.status_code == 200, r.text
    assert r.json()["contacts"] == ["sms:carol"] and r.json()["to"] == "user:carol"
    await run(env.h)
    assert [m.to for m in env.twilio.messages] == [CAROL]
    ev = (await env.incident(iid))["timeline"]
    assert any(e["kind"] == "reassigned" and e["actor"] == "alice" for e in ev)
    r = await _post(env, f"/api/v1/incidents/{iid}/reassign", {"to": "team:platform"})
    assert r.status_code == 200 and r.json()["to"] == "team:platform (oncall)"
    for unknown in ("zed", "team:nobody", "schedule:", "pager:duty"):
        r = await _post(env, f"/api/v1/incidents/{iid}/reassign", {"to": unknown})
        assert r.status_code == 422 and "team: platform" in r.json()["detail"], unknown
    for bad in ({"to": ""}, {"to": "x" * 201}, {}):
        assert (await _post(env, f"/api/v1/incidents/{iid}/reassign", bad)).status_code == 422
    assert (await _post(env, "/api/v1/incidents/99999/reassign", {"to": "carol"})).status_code == 404
    await _post(env, f"/api/v1/incidents/{iid}/resolve")
    assert (await _post(env, f"/api/v1/incidents/{iid}/reassign", {"to": "carol"})).status_code == 409


def _run_rows(incident_id: int, now: Any) -> Any:
    def write(conn: Connection) -> None:
        run_id = conn.execute(insert(remediation_runs).values(
            idempotency_key="k1", runbook_id="restart-api", incident_id=str(incident_id), triggered_by="tocsin",
            labels={}, annotations={}, dry_run=False, status="finished", outcome="verified", reason="",
            target={}, next_step=2, created_at=now, updated_at=now, started_at=now,
            finished_at=now).returning(remediation_runs.c.id)).scalar_one()
        conn.execute(insert(remediation_steps), [
            {"run_id": run_id, "phase": "steps", "step_index": i, "action": a, "summary": a, "started_at": now,
             "dry_run": False, "outcome": o, "params": {}, "response": "", "finished_at": now, "pods_deleted": 0,
             "nodes_cordoned": 0, "guard": None, "reason": ""} for i, (a, o) in enumerate(
                [("rollout_restart", "ok"), ("wait_for", "ok")])])
    return write


async def test_incident_page_shows_deliveries_with_state_runs_with_steps_and_links(board_env: Env) -> None:
    env = board_env
    annotations = {"summary": "s", "runbook_url": "https://runbooks.example.com/api",
                   "dashboard_url": "javascript:alert(1)"}
    await env.h.post_webhook(payload(alert(severity="critical", annotations=annotations, dashboard_url="https://g/d")))
    iid = int((await env.h.api("GET", "/api/v1/incidents")).json()["incidents"][0]["id"])
    env.twilio.rate_limit_next(retry_after=60)  # the first SMS is refused: retried later
    await run(env.h)
    await env.h.app.state.svc.db.write(_run_rows(iid, env.h.clock()))
    d = await env.incident(iid)
    states = {(x["channel"], x["state"]) for x in d["deliveries"]}
    assert ("pagerduty", "sent") in states and ("slack", "sent") in states and ("sms", "retrying") in states
    assert all(x["kind"] == "trigger" for x in d["deliveries"])
    assert [(s["action"], s["outcome"]) for s in d["runs"][0]["steps"]] == [("rollout_restart", "ok"),
                                                                          ("wait_for", "ok")]
    assert d["runs"][0]["runbook_id"] == "restart-api" and d["runs"][0]["outcome"] == "verified"
    links = d["links"]
    assert links["runbook"] == "https://runbooks.example.com/api"
    assert links["dashboard"] == "https://g/d"  # the javascript: annotation is not a link; the label is
    assert links["generator"] == ["http://prometheus:9090/graph?g0.expr=x"] and "alertmanager" not in links
    assert d["timeline"][0]["kind"] == "opened" and "windows" in d  # the existing keys stay
    kinds = {e["kind"] for e in d["timeline"]}
    assert {"escalation", "escalation_step", "delivery"} <= kinds
