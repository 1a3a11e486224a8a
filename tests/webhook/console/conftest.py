"""The console in Debian's Chromium (Playwright) at a phone viewport: ONE browser per test module (its own event
loop), a fresh context per test, the service on a real loopback port with every channel on the fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright

from tests.fakekube import FakeKube
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio
from tests.support.clock import FakeClock
from tests.support.harness import start_harness
from tests.support.remediation_env import remediation_config
from tests.support.served import served
from tests.webhook.console.env import CHROMIUM, FLAGS, Console, console_config


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The page, not the storage, is under test here: SQLite only (the APIs have their PostgreSQL legs)."""
    return f"sqlite:///{tmp_path / 'tocsin.db'}"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        await b.close()


async def serve(app: Any) -> AsyncIterator[str]:
    """`app` on a real loopback port (its lifespan already runs)."""
    async with served(app) as url:
        yield url


@pytest_asyncio.fixture(loop_scope="module")
async def rem_console(db_url: str, tmp_path: Path, browser: Browser, fake_slack: FakeSlack,
                      fake_twilio: FakeTwilio, fake_pagerduty: FakePagerDuty, kube: FakeKube) -> AsyncIterator[Console]:
    """`console` with remediation on (the small test runbooks) against the fake Kubernetes API."""
    section = remediation_config(db_url, tmp_path, kube).model_dump(mode="python")["remediation"]
    cfg = console_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty, remediation=section)
    async for h in start_harness(cfg, FakeClock()):
        async for url in serve(h.app):
            c = Console(h, url, browser, fake_slack, fake_twilio, fake_pagerduty)
            yield c
            await c.close()


@pytest_asyncio.fixture(loop_scope="module")
async def console(db_url: str, tmp_path: Path, browser: Browser, fake_slack: FakeSlack, fake_twilio: FakeTwilio,
                  fake_pagerduty: FakePagerDuty) -> AsyncIterator[Console]:
    """The service (escalation on, console roles for alice) served on loopback, and the shared browser."""
    cfg = console_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty)
    async for h in start_harness(cfg, FakeClock()):
        async for url in serve(h.app):
            c = Console(h, url, browser, fake_slack, fake_twilio, fake_pagerduty)
            yield c
            await c.close()
