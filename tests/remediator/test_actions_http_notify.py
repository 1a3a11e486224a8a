"""The `http` action calls only allow-listed URLs; the `notify` action posts to the incident's channels."""

from __future__ import annotations

import pytest

from remediator.casetest import FakePrometheus, PrometheusSpec
from remediator.engine import Engine
from remediator.events import EventKind
from remediator.fakecluster import ClusterSpec, FakeCluster
from remediator.records import Outcome
from remediator.settings import EngineSettings
from remediator.store import MemoryStore
from tests.support.clock import FakeClock
from tests.support.remediator_engine import Recorder, alert, runbook

ALLOW = ("https://flags.internal/api/v1/flags",)


class Calls:
    def __init__(self, status: int = 200) -> None:
        self.status, self.seen = status, []  # type: ignore[var-annotated]

    async def __call__(self, method: str, url: str, body: dict[str, str] | None, timeout_seconds: float) -> int:
        self.seen.append((method, url, body))
        return self.status


def engine_with(rb, clock: FakeClock, http: Calls, dry_run: bool = False):  # type: ignore[no-untyped-def]
    cluster = FakeCluster(ClusterSpec.model_validate({"deployments": [
        {"namespace": "shop", "name": "api", "replicas": 2}]}), clock.now())
    rec = Recorder()
    engine = Engine(store=MemoryStore(), cluster=cluster, prometheus=FakePrometheus(PrometheusSpec(holds=True)),
                    runbooks=[rb], settings=EngineSettings(http_allowlist=ALLOW, dry_run=dry_run), clock=clock.now,
                    sleep=clock.sleep, events=rec.sink, metrics=rec, http=http)
    return engine, rec


def http_step(url: str, **kw: object) -> dict[str, object]:
    return {"action": "http", "url": url, "method": "PUT", "body": {"enabled": "false", "by": "{{ labels.alertname }}"},
            **kw}


async def test_allow_listed_call_is_made_with_rendered_body(clock: FakeClock) -> None:
    rb = runbook(steps=[http_step("https://flags.internal/api/v1/flags/{{ labels.deployment }}-beta")])
    calls = Calls()
    engine, _ = engine_with(rb, clock, calls)
    run = await engine.start(rb, alert())
    assert run.outcome is Outcome.VERIFIED
    assert calls.seen == [("PUT", "https://flags.internal/api/v1/flags/api-beta", {"enabled": "false", "by": "X"})]


@pytest.mark.parametrize("url", [
    "https://flags.internal/api/v1/flagsX",  # not under the listed path
    "https://flags.internal/api/v1/flags/../../admin",  # traversal
    "https://user:pw@flags.internal/api/v1/flags/x",  # credentials in the URL
    "http://flags.internal/api/v1/flags/x",  # other scheme
    "https://evil.example/api/v1/flags/x",  # other host
])
async def test_urls_off_the_allow_list_are_refused_and_never_called(clock: FakeClock, url: str) -> None:
    rb = runbook(steps=[http_step(url)])
    calls = Calls()
    engine, _rec = engine_with(rb, clock, calls)
    run = await engine.start(rb, alert())
    # a refused step hands the incident to a human: the run ends escalated, naming the refusal
    assert run.outcome is Outcome.ESCALATED
    assert "is not on the HTTP allow-list" in run.reason
    assert calls.seen == []


async def test_unexpected_status_fails_the_run(clock: FakeClock) -> None:
    rb = runbook(steps=[http_step("https://flags.internal/api/v1/flags/x")])
    engine, _ = engine_with(rb, clock, Calls(status=500))
    run = await engine.start(rb, alert())
    assert run.outcome is not Outcome.VERIFIED
    assert "answered 500" in run.reason


async def test_dry_run_makes_no_call(clock: FakeClock) -> None:
    rb = runbook(steps=[http_step("https://flags.internal/api/v1/flags/x")])
    calls = Calls()
    engine, _ = engine_with(rb, clock, calls, dry_run=True)
    await engine.start(rb, alert())
    assert calls.seen == []


async def test_notify_posts_a_rendered_message_event(clock: FakeClock) -> None:
    rb = runbook(steps=[{"action": "notify", "message": "restarting {{ labels.deployment }} in {{ labels.namespace }}"},
                        {"action": "scale", "by": 1, "max": 10}])
    engine, rec = engine_with(rb, clock, Calls())
    await engine.start(rb, alert())
    messages = [e.message for e in rec.events if e.kind is EventKind.MESSAGE]
    assert messages == ["restarting api in shop"]
