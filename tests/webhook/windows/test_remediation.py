"""No runbook run starts for an incident a maintenance window covers; the timeline says so. When the window ends
and the incident still fires, the normal path resumes: the page first, then the run."""

from __future__ import annotations

from tests.support.escalation_env import run
from tests.support.remediation_escalated import NONE, ONCE, Factory, open_critical, pages


async def test_a_runbook_does_not_start_during_the_window_and_starts_after_it(renv: Factory) -> None:
    env = await renv()
    r = await env.h.api("POST", "/api/v1/windows", json={"matchers": ['alertname="FixMe"'], "duration": "30m",
                                                        "comment": "node drain"})
    assert r.status_code == 201, r.text
    wid = r.json()["id"]
    iid = await open_critical(env)
    await run(env.h)
    await env.settle()
    await run(env.h, minutes=25, every=300)
    assert env.scale_calls() == 0 and pages(env) == NONE
    timeline = (await env.incident(iid))["timeline"]
    assert [e["detail"]["note"] for e in timeline if e["kind"] == "remediation_not_started"] == [
        f"runbook fix-me not started: maintenance window #{wid} (node drain)"]
    assert not any(e["kind"] == "remediation_started" for e in timeline)
    await run(env.h, minutes=5, every=300)  # 03:30, the window ends: escalation first...
    assert pages(env) == ONCE
    await env.settle()  # ...then the runbook, as with a trigger at the first step: the step made its request
    await env.settle()  # due, the next tick started the run, this drain lets it finish
    assert env.scale_calls() == 1
    kinds = [e["kind"] for e in (await env.incident(iid))["timeline"]]
    assert kinds.index("escalation_step") < kinds.index("remediation_started")


async def test_an_incident_outside_any_window_starts_its_run_at_once(renv: Factory) -> None:
    env = await renv()
    r = await env.h.api("POST", "/api/v1/windows", json={"matchers": ['alertname="Other"'], "duration": "30m"})
    assert r.status_code == 201
    iid = await open_critical(env)
    await run(env.h)
    await env.settle()
    assert env.scale_calls() == 1
    assert not any(e["kind"] == "remediation_not_started" for e in (await env.incident(iid))["timeline"])


async def test_a_window_created_before_the_run_is_claimed_stops_it_and_takes_over_the_hold(renv: Factory) -> None:
    env = await renv()
    iid = await open_critical(env)  # the request is due; no tick yet, so no worker has claimed it
    r = await env.h.api("POST", "/api/v1/windows", json={"matchers": ['deployment="api"'], "duration": "20m",
                                                        "comment": "rollout"})
    assert r.status_code == 201
    await run(env.h)  # the claim finds the window: no run
    await env.settle()
    await run(env.h, minutes=15, every=300)
    assert env.scale_calls() == 0 and pages(env) == NONE
    timeline = (await env.incident(iid))["timeline"]
    assert [e["detail"]["note"] for e in timeline if e["kind"] == "remediation_not_started"] == [
        f"runbook fix-me not started: maintenance window #{r.json()['id']} (rollout)"]
    assert [e["detail"]["until"] for e in timeline if e["kind"] == "window_held"] == ["2026-11-28T03:20:00+00:00"]
    await run(env.h, minutes=5, every=300)  # 03:20, not the 30 minutes of the runbook's hold: the page, then the run
    assert pages(env) == ONCE
    await env.settle()
    await env.settle()
    assert env.scale_calls() == 1
