"""Fixtures: fake API server + real kubernetes client, real Prometheus scraping a TestExporter, fake time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from remediator.kube import ClusterAccess, KubeCluster, connect
from remediator.loader import load_runbooks
from remediator.prometheus import Prometheus
from remediator.runbook import Runbook
from tests.fakekube import FakeKube
from tests.support.exporter import TestExporter
from tests.support.procs import Proc, start_prometheus

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class Clock:
    """Fake time: now() returns the current instant; sleep() advances it without waiting."""

    def __init__(self, start: datetime = T0) -> None:
        self.current = start
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.current += timedelta(seconds=seconds)
        await asyncio.sleep(0)

    def advance(self, **kwargs: float) -> None:
        self.current += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def kube(clock: Clock) -> Iterator[FakeKube]:
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
