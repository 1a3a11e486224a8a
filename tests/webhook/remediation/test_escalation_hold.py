"""While a runbook works on an incident its escalation waits; it resumes at once when the run needs a human."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from remediator.records import RunStatus
from tests.support.escalation_env import run
from tests.support.remediation_escalated import NONE, ONCE, Factory, open_critical, pages
from webhook import metrics


def kinds(incident: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in incident["timeline"]]


def avoided() -> float:
    return metrics.PAGES_AVOIDED.labels("fix-me")._value.get()  # type: ignore[no-any-return]


async def test_a_verified_run_pages_nobody_and_counts_a_page_avoided(renv: Factory) -> None:
    env = await renv(resolve_on_verified=True)
    before = avoided()
    iid = await open_critical(env)
    await run(env.h)  # the critical policy's first step is due now, but the runbook holds it
    assert pages(env) == NONE
    await env.settle()
    incident = await env.incident(iid)
    assert incident["state"] == "resolved" and incident["resolved_by"] == "tocsin-remediation"
    assert "escalation_held" in kinds(incident) and "remediation_verified" in kinds(incident)
    await run(env.h, minutes=60)
    assert pages(env) == NONE and env.scale_calls() == 1
    assert avoided() == before + 1


async def test_a_failed_verification_pages_right_after_the_failure_once(renv: Factory) -> None:
    env = await renv()
    env.prom.healthy = False
    opened = env.h.clock()
    iid = await open_critical(env)
    await run(env.h)
    await env.rem.drain()  # verification polls for its 2 minutes (fake time) and fails: page=True
    timeline = (await env.incident(iid))["timeline"]
    failed = next(e for e in timeline if e["kind"] == "remediation_failed")
    assert failed["detail"]["page"] is True and pages(env) == NONE
    await run(env.h)  # the next tick, 28 minutes before the hold would have ended
    assert pages(env) == ONCE and env.h.clock() - opened < timedelta(minutes=3)
    await run(env.h, minutes=4)  # the chain resumed where it was held: the call is still 5 minutes away
    assert pages(env) == ONCE
    steps = [e["detail"]["step"] for e in (await env.incident(iid))["timeline"] if e["kind"] == "escalation_step"]
    assert steps == [1]


async def test_the_hold_is_bounded_a_run_still_verifying_does_not_stop_the_page(renv: Factory) -> None:
    env = await renv(hold_escalation_for="1m")  # caps the runbook's 30 minutes
    env.prom.healthy = False
    env.sleeper.stop_at = env.h.clock() + timedelta(seconds=90)  # the run keeps verifying past the hold
    iid = await open_critical(env)
    await run(env.h)
    await env.sleeper.stopped.wait()
    assert pages(env) == NONE
    await run(env.h)
    assert pages(env) == ONCE
    [live] = await env.rem.store.runs_with_status((RunStatus.RUNNING,))
    assert live.incident_id == str(iid)
    assert kinds(await env.incident(iid))[-1] != "remediation_failed"
