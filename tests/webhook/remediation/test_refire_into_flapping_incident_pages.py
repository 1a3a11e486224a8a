"""A re-fire into a flapping incident is never absorbed silently (default flap settings): open, run verified,
resolve, re-fire (a new incident whose run is verified again, or refused by the cooldown), resolve (the incident
is now flapping and waits for quiet), re-fire (it joins: no new run, no refusal). The page must go out then;
before the fix the step stayed held until open + hold_escalation_for by the verified run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.fakekube import FakeKube
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.prometheus import FakePrometheus
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio
from tests.support.clock import FakeClock
from tests.support.escalation_env import run
from tests.support.payloads import alert, payload
from tests.support.remediation_escalated import NONE, RemEnv, config, pages, start
from webhook.config import FlapConfig

#: Like the shipped pod-crashlooping runbook: a one-hour cooldown and a 15 minute hold.
COOLDOWN_ME = """
id: cooldown-me
description: add a replica and verify; at most once an hour
owner: team-test
match: ['alertname="CooldownMe"']
target: {namespace: "{{ labels.namespace }}", deployment: "{{ labels.deployment }}"}
steps: [{action: scale, by: 1, max: 10}]
verify: {query: up, within: 2m, interval: 30s}
safety: {cooldown: 1h, hold_escalation_for: 15m}
"""


@pytest.fixture
async def env(db_url: str, tmp_path: Path, fake_slack: FakeSlack, fake_twilio: FakeTwilio,
              fake_pagerduty: FakePagerDuty, kube: FakeKube, clock: FakeClock,
              fake_prometheus: FakePrometheus) -> AsyncIterator[RemEnv]:
    """`renv` with the default flap settings (4 changes in 10 minutes, 15 minutes quiet)."""
    cfg = config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty, kube, fake_prometheus)
    (tmp_path / "runbooks" / "cooldown-me.yaml").write_text(COOLDOWN_ME)
    cfg = cfg.model_copy(update={"incidents": cfg.incidents.model_copy(update={"flap": FlapConfig()})})
    async for e in start(cfg, clock, fake_slack, fake_twilio, fake_pagerduty, kube, fake_prometheus):
        yield e


class Episodes:
    """Firing and resolved webhooks of one alert whose episodes start two minutes apart."""

    def __init__(self, env: RemEnv, alertname: str) -> None:
        self.env, self.t0 = env, env.h.clock()
        self.labels = {"alertname": alertname, "deployment": "api", "team": "platform"}

    def _alert(self, n: int, status: str) -> dict[str, Any]:
        ends = self.env.h.clock() if status == "resolved" else None
        return alert(status=status, starts=self.t0 + timedelta(minutes=2 * n), ends=ends, **self.labels)

    async def fire(self, n: int) -> None:
        assert (await self.env.h.post_webhook(payload(self._alert(n, "firing")))).status_code == 200

    async def resolve(self, n: int) -> None:
        self.env.h.clock.advance(minutes=1)
        assert (await self.env.h.post_webhook(payload(self._alert(n, "resolved")))).status_code == 200
        self.env.h.clock.advance(minutes=1)


async def work(env: RemEnv) -> None:
    """A tick (claims the run request, holds the first step), the run to its end, then a tick on its rows."""
    await run(env.h)
    await env.rem.drain()
    await run(env.h)


async def incidents(env: RemEnv) -> list[dict[str, Any]]:
    items = (await env.h.api("GET", "/api/v1/incidents")).json()["incidents"]
    return [await env.incident(int(i["id"])) for i in sorted(items, key=lambda i: int(i["id"]))]


def steps_at(incident: dict[str, Any]) -> list[datetime]:
    return [datetime.fromisoformat(e["at"]) for e in incident["timeline"] if e["kind"] == "escalation_step"]


async def test_a_refire_after_a_verified_run_pages_at_once(env: RemEnv) -> None:
    ep = Episodes(env, "FixMe")  # cooldown 0s: the second incident's run is verified too
    await ep.fire(0)
    await work(env)  # incident 1: run verified, its first step held
    await ep.resolve(0)
    await ep.fire(1)  # three changes: a new incident
    await work(env)  # incident 2: run verified again, its first step held
    assert pages(env) == NONE
    await ep.resolve(1)  # the fourth change: incident 2 flaps and waits for quiet instead of resolving
    refired = env.h.clock()
    await ep.fire(2)  # joins incident 2: no new run, no refusal
    await run(env.h)
    first, second = await incidents(env)
    assert first["state"] == "resolved" and second["state"] == "triggered"
    assert [e["kind"] for e in second["timeline"]].count("remediation_started") == 1
    assert steps_at(second) == [refired] and pages(env)["sms"] == 1 and pages(env)["pagerduty"] == 1


async def test_a_refire_after_a_cooldown_refusal_was_paged_by_the_refusal(env: RemEnv) -> None:
    ep = Episodes(env, "CooldownMe")
    await ep.fire(0)
    await work(env)
    await ep.resolve(0)
    refused_at = env.h.clock()
    await ep.fire(1)
    await work(env)  # the cooldown refuses incident 2's run: it pages at once
    await ep.resolve(1)
    await ep.fire(2)
    await run(env.h)
    _, second = await incidents(env)
    kinds = [e["kind"] for e in second["timeline"]]
    assert "remediation_refused" in kinds and kinds[-1] != "escalation_held"
    assert steps_at(second)[0] == refused_at and pages(env)["sms"] == 1
