"""A run that needs a human pages for its incident even when Alertmanager resolved the incident while the run
was verifying (the rollout replaced the crashing pods, their alert resolved, then the verification failed): the
incident is re-opened and its escalation starts over. If a new incident of the same key opened meanwhile, that
one pages at once instead."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from remediator.events import EventKind, RunEvent
from tests.fakekube import FakeKube
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.prometheus import FakePrometheus
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio
from tests.support.clock import FakeClock
from tests.support.escalation_env import run
from tests.support.payloads import alert, payload
from tests.support.remediation_escalated import NONE, Factory, RemEnv, config, pages, start
from webhook.config import FlapConfig

CRASHING = {"alertname": "FixMe", "deployment": "api", "team": "platform"}


def triggers(env: RemEnv, incident: int) -> list[tuple[str, str]]:
    """(channel, status) of the incident's trigger deliveries (the pages of its escalation steps)."""
    engine = create_engine(env.h.cfg.database_url())
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT channel, status FROM deliveries WHERE incident_id = :i AND kind = 'trigger'"
                                 " ORDER BY id"), {"i": incident}).all()
    engine.dispose()
    return [(r[0], r[1]) for r in rows]


def resolve_when_verifying(env: RemEnv, then: list[Any]) -> None:
    """Alertmanager resolves the incident's alert the moment the run starts verifying (the pods were replaced);
    `then`: alerts that fire right after (the new pods crash too)."""
    async def listener(event: RunEvent) -> None:
        if event.kind is EventKind.VERIFYING:
            resolved = payload(alert(status="resolved", ends=env.h.clock(), **CRASHING))
            for body in [resolved] + [payload(a) for a in then]:
                assert (await env.h.post_webhook(body)).status_code == 200

    env.rem.listeners.append(listener)


@pytest.fixture
async def default_flap(db_url: str, tmp_path: Path, fake_slack: FakeSlack, fake_twilio: FakeTwilio,
                       fake_pagerduty: FakePagerDuty, kube: FakeKube, clock: FakeClock,
                       fake_prometheus: FakePrometheus) -> AsyncIterator[RemEnv]:
    """`renv` with the default flap settings (4 changes): a re-fire after a resolve opens a new incident."""
    cfg = config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty, kube, fake_prometheus)
    cfg = cfg.model_copy(update={"incidents": cfg.incidents.model_copy(update={"flap": FlapConfig()})})
    async for env in start(cfg, clock, fake_slack, fake_twilio, fake_pagerduty, kube, fake_prometheus):
        yield env


def kinds(incident: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in incident["timeline"]]


async def test_a_failed_verification_pages_after_alertmanager_resolved_the_incident(renv: Factory) -> None:
    env = await renv()
    env.prom.healthy = False  # the verification will fail
    resolve_when_verifying(env, [])
    iid = await env.page(**CRASHING)
    await run(env.h)  # claims the request; the first step is held by the run
    await env.rem.drain()  # the run verifies (AM resolves meanwhile), fails after 2 minutes: page=True
    incident = await env.incident(iid)
    assert "resolved" in kinds(incident) and "remediation_failed" in kinds(incident)
    assert pages(env) == NONE and triggers(env, iid) == []
    await run(env.h)
    assert triggers(env, iid) and all(status == "delivered" for _, status in triggers(env, iid))
    assert pages(env)["sms"] == 1 and pages(env)["pagerduty"] == 1
    incident = await env.incident(iid)
    after = kinds(incident)[kinds(incident).index("reopened"):]
    assert incident["state"] == "triggered" and after[:2] == ["reopened", "escalation_restarted"]
    assert "escalation_step" in after
    reopened = next(e for e in incident["timeline"] if e["kind"] == "reopened")
    assert reopened["actor"] == "tocsin-remediation" and "alertmanager" in reopened["detail"]["reason"]


async def test_a_new_incident_of_the_same_key_pages_at_once_when_the_old_run_fails(default_flap: RemEnv) -> None:
    env = default_flap
    env.prom.healthy = False
    new_pod = alert(starts=env.h.clock(), pod="api-2", **CRASHING)  # the replaced pods crash too: same incident key
    resolve_when_verifying(env, [new_pod])
    first = await env.page(**CRASHING)
    await run(env.h)
    await env.rem.drain()  # the first run fails after Alertmanager resolved its incident and a new one opened
    second = max(int(i["id"]) for i in (await env.h.api("GET", "/api/v1/incidents")).json()["incidents"])
    assert second != first and (await env.incident(second))["state"] == "triggered"
    await run(env.h)  # the new incident's first step fires although its own run would hold it
    assert triggers(env, second) and triggers(env, first) == []
    assert (await env.incident(first))["state"] == "resolved"  # one open incident per key: the new one pages
    assert "remediation_paged_on" in kinds(await env.incident(first))
    assert "remediation_page" in kinds(await env.incident(second))
