"""The suite's shared fixtures, registered once by `pytest_plugins` in tests/conftest.py.

The code behind them lives beside this module and may be imported by tests (helpers, never fixtures):
harness.py (the service with an HTTP client), escalation_env.py (every channel on the fake vendors),
remediation_env.py and remediation_escalated.py (remediation on the fake Kubernetes API), smtp.py (a real SMTP
server's inbox), clock.py (the one fake clock). A folder's conftest.py may override a fixture for its tests (the
remediator tests bring their own `clock` and a bare `kube`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.fakekube import FakeKube
from tests.fakekube import builders as b
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.prometheus import FakePrometheus
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio
from tests.support.clock import FakeClock
from tests.support.escalation_env import Env, esc_config
from tests.support.harness import Harness, make_config, start_harness
from tests.support.procs import free_port
from tests.support.remediation_env import Sleeper, Svc, remediation_config, start_service
from tests.support.remediation_escalated import Factory, RemEnv
from tests.support.remediation_escalated import config as escalated_config
from tests.support.remediation_escalated import start as start_escalated
from tests.support.smtp import Inbox


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def harness(db_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    """The service on `db_url` with the default test config and its own fake clock."""
    async for h in start_harness(make_config(db_url, tmp_path), FakeClock()):
        yield h


@pytest.fixture
async def env(db_url: str, tmp_path: Path, fake_slack: FakeSlack, fake_twilio: FakeTwilio,
              fake_pagerduty: FakePagerDuty) -> AsyncIterator[Env]:
    """The service with escalation on and every channel pointed at the fake vendors."""
    cfg = esc_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty)
    async for h in start_harness(cfg, FakeClock()):
        yield Env(h, fake_slack, fake_twilio, fake_pagerduty)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server (aiosmtpd) on a free loopback port: its inbox and the port."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def sleeper(clock: FakeClock) -> Sleeper:
    return Sleeper(clock)


@pytest.fixture
def kube(clock: FakeClock) -> Iterator[FakeKube]:
    """The fake Kubernetes API server with one node and the deployment shop/api (2 replicas)."""
    with FakeKube(clock=clock) as server:
        b.node(server, "n1")
        b.deployment(server, "shop", "api", 2)
        yield server


@pytest.fixture
async def svc(db_url: str, tmp_path: Path, kube: FakeKube, clock: FakeClock,
              sleeper: Sleeper) -> AsyncIterator[Svc]:
    """The service with remediation on (the small test runbooks), against `kube`, on `clock`."""
    async for s in start_service(remediation_config(db_url, tmp_path, kube), clock, sleeper):
        yield s


@pytest.fixture
async def renv(db_url: str, tmp_path: Path, fake_slack: FakeSlack, fake_twilio: FakeTwilio,
               fake_pagerduty: FakePagerDuty, kube: FakeKube, clock: FakeClock,
               fake_prometheus: FakePrometheus) -> AsyncIterator[Factory]:
    """`await renv(**remediation_settings)` starts the service; it stops with the test."""
    gens: list[AsyncIterator[RemEnv]] = []

    async def make(**remediation: Any) -> RemEnv:
        cfg = escalated_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty, kube, fake_prometheus,
                               **remediation)
        gens.append(start_escalated(cfg, clock, fake_slack, fake_twilio, fake_pagerduty, kube, fake_prometheus))
        return await anext(gens[-1])

    yield make
    for gen in gens:
        await gen.aclose()  # type: ignore[attr-defined]
