"""The service with remediation and escalation on, every channel on the fake vendors, fake time and Prometheus
(the `renv` fixture)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tests.fakekube import FakeKube
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.prometheus import FakePrometheus
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio
from tests.support.clock import FakeClock
from tests.support.escalation_env import Env, esc_config, run
from tests.support.harness import Harness
from tests.support.payloads import alert, payload
from webhook.app import build_asgi, create_app
from webhook.config import TocsinConfig
from webhook.remediation.service import Remediation

#: One verifies (hold 30 min, verify within 2 min), one asks for approval first.
RUNBOOKS = {
    "fix-me.yaml": """
id: fix-me
description: add a replica and verify
owner: team-test
match: ['alertname="FixMe"']
target: {namespace: "{{ labels.namespace }}", deployment: "{{ labels.deployment }}"}
steps: [{action: scale, by: 1, max: 10}]
verify: {query: up, within: 2m, interval: 30s}
safety: {cooldown: 0s, hold_escalation_for: 30m}
""",
    "ask-me.yaml": """
id: ask-me
description: ask, then add a replica
owner: team-test
match: ['alertname="AskMe"']
target: {namespace: "{{ labels.namespace }}", deployment: "{{ labels.deployment }}"}
steps: [{action: approval, message: "scale {{ target.deployment }}?"}, {action: scale, by: 1, max: 10}]
safety: {cooldown: 0s}
""",
}


class StoppingSleeper:
    """Engine sleep on fake time; from `stop_at` on it never returns (a run still verifying)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.stop_at: datetime | None = None
        self.stopped = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        if self.stop_at is not None and self.clock() >= self.stop_at:
            self.stopped.set()
            await asyncio.Event().wait()
        self.clock.advance(seconds=seconds)
        await asyncio.sleep(0)


@dataclass
class RemEnv(Env):
    rem: Remediation
    prom: FakePrometheus
    kube: FakeKube
    sleeper: StoppingSleeper

    async def settle(self) -> None:
        """Let background runs reach their end or pause, then tick so their rows are acted on."""
        await self.rem.drain()
        await run(self.h)

    def scale_calls(self) -> int:
        return sum(1 for r in self.kube.requests if r.verb == "patch" and r.subresource == "scale")


def config(db_url: str, tmp_path: Path, slack: FakeSlack, twilio: FakeTwilio, pd: FakePagerDuty, kube: FakeKube,
           prom: FakePrometheus, **remediation: Any) -> TocsinConfig:
    books = tmp_path / "runbooks"
    books.mkdir(exist_ok=True)
    for name, body in RUNBOOKS.items():
        (books / name).write_text(body)
    base = esc_config(db_url, tmp_path, slack, twilio, pd).model_dump(mode="python", by_alias=True)
    base["remediation"] = {"enabled": True, "runbooks_dir": str(books), "prometheus_url": prom.url,
                           "cluster": {"mode": "token", "host": kube.url, "token": "test-token"}, **remediation}
    base["incidents"] = {**base["incidents"], "flap": {"changes": 3}}
    return TocsinConfig(**base)


async def start(cfg: TocsinConfig, clock: FakeClock, slack: FakeSlack, twilio: FakeTwilio, pd: FakePagerDuty,
                kube: FakeKube, prom: FakePrometheus) -> AsyncIterator[RemEnv]:
    sleeper = StoppingSleeper(clock)
    app = create_app(cfg, clock=clock, tick_seconds=0, sleep=sleeper)
    transport = httpx.ASGITransport(app=build_asgi(app))
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport,
                                                                   base_url="http://tocsin.test") as client:
        rem = app.state.remediation
        assert isinstance(rem, Remediation)
        yield RemEnv(Harness(app, client, clock, cfg), slack, twilio, pd, rem, prom, kube, sleeper)


Factory = Callable[..., Awaitable[RemEnv]]


def pages(env: RemEnv) -> dict[str, int]:
    return {"slack": len(env.slack.top_level()), "sms": len(env.twilio.messages), "voice": len(env.twilio.calls),
            "pagerduty": sum(1 for a in env.pd.alerts.values() for e in a.events if e["event_action"] == "trigger")}


NONE = {"slack": 0, "sms": 0, "voice": 0, "pagerduty": 0}
ONCE = {"slack": 1, "sms": 1, "voice": 0, "pagerduty": 1}


async def open_critical(env: RemEnv, alertname: str = "FixMe") -> int:
    body = payload(alert(alertname=alertname, deployment="api", team="platform"))
    assert (await env.h.post_webhook(body)).status_code == 200
    return int((await env.h.api("GET", "/api/v1/incidents")).json()["incidents"][0]["id"])
