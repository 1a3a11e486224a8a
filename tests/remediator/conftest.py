"""Fixtures of the remediator tests: fake API server + real kubernetes client, real Prometheus scraping a
TestExporter, fake time from T0. `clock` and `kube` override the plugin's (which serve the service tests)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from remediator.kube import ClusterAccess, KubeCluster, connect
from remediator.loader import load_runbooks
from remediator.prometheus import Prometheus
from remediator.runbook import Runbook
from tests.fakekube import FakeKube
from tests.support.clock import FakeClock
from tests.support.exporter import TestExporter
from tests.support.procs import Proc, start_prometheus

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    """The suite's fake clock, started at T0 here (overrides the plugin's `clock`)."""
    return FakeClock(T0)


@pytest.fixture
def kube(clock: FakeClock) -> Iterator[FakeKube]:
    with FakeKube(clock=clock.now) as server:
        yield server


@pytest.fixture
def cluster(kube: FakeKube) -> KubeCluster:
    return connect(ClusterAccess(mode="token", host=kube.url, token="test-token"))


@pytest.fixture(scope="session")
def runbooks() -> dict[str, Runbook]:
    return {r.id: r for r in load_runbooks(RUNBOOKS)}


@pytest.fixture(scope="session")
def exporter() -> Iterator[TestExporter]:
    exp = TestExporter()
    yield exp
    exp.close()


@pytest.fixture(scope="session")
def prometheus_proc(tmp_path_factory: pytest.TempPathFactory, exporter: TestExporter) -> Iterator[Proc]:
    proc = start_prometheus(tmp_path_factory.mktemp("prometheus"), scrape_targets=[exporter.target])
    yield proc
    proc.stop()


@pytest.fixture
async def prometheus(prometheus_proc: Proc) -> Prometheus:
    client = Prometheus(prometheus_proc.url)
    yield client  # type: ignore[misc]
    await client.aclose()
