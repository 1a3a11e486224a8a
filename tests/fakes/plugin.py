"""Pytest fixtures for the fakes: one server per session, state and faults reset for every test.

Enabled suite-wide by `pytest_plugins = ["tests.fakes.plugin", ...]` in the top-level tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.prometheus import FakePrometheus
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio


@pytest.fixture(scope="session")
def _fake_slack_server() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture(scope="session")
def _fake_twilio_server() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture(scope="session")
def _fake_pagerduty_server() -> Iterator[FakePagerDuty]:
    with FakePagerDuty() as fake:
        yield fake


@pytest.fixture
def fake_slack(_fake_slack_server: FakeSlack) -> Iterator[FakeSlack]:
    _fake_slack_server.reset()
    yield _fake_slack_server
    _fake_slack_server.release_hangs()


@pytest.fixture
def fake_twilio(_fake_twilio_server: FakeTwilio) -> Iterator[FakeTwilio]:
    _fake_twilio_server.reset()
    yield _fake_twilio_server
    _fake_twilio_server.release_hangs()


@pytest.fixture
def fake_pagerduty(_fake_pagerduty_server: FakePagerDuty) -> Iterator[FakePagerDuty]:
    _fake_pagerduty_server.reset()
    yield _fake_pagerduty_server
    _fake_pagerduty_server.release_hangs()


@pytest.fixture
def fake_prometheus() -> Iterator[FakePrometheus]:
    """A fake Prometheus query API of its own for the test (healthy: every verify query holds)."""
    with FakePrometheus() as prom:
        yield prom  # type: ignore[misc]
