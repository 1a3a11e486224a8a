"""Drive one shipped runbook end to end: fake cluster over HTTP, real Prometheus, fake time (tests/remediator)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from remediator.engine import Alert, Engine
from remediator.events import EventKind, RunEvent
from remediator.kube import KubeCluster
from remediator.prometheus import Prometheus
from remediator.records import RunRecord
from remediator.runbook import Runbook
from remediator.settings import EngineSettings
from remediator.store import MemoryStore
from tests.support.clock import FakeClock
from tests.support.exporter import TestExporter


async def wait_until_holds(prometheus: Prometheus, query: str, attempts: int = 100) -> None:
    """Poll the real Prometheus (1 s scrape) until query returns a sample."""
    for _ in range(attempts):
        if await prometheus.holds(query):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"Prometheus never saw {query}")


@dataclass
class World:
    """The metrics the test exporter serves before and after the fix."""

    exporter: TestExporter
    prometheus: Prometheus
    broken: dict[str, float]
    healed: dict[str, float]
    heal: bool = True
    events: list[RunEvent] = field(default_factory=list)

    async def start(self) -> None:
        for series, value in self.broken.items():
            self.exporter.set(series, value)
        first = next(iter(self.broken))
        await wait_until_holds(self.prometheus, first)

    async def sink(self, event: RunEvent) -> None:
        self.events.append(event)
        if event.kind is EventKind.VERIFYING and self.heal:
            for series, value in self.healed.items():
                self.exporter.set(series, value)
            await wait_until_holds(self.prometheus, event.message.split("): ", 1)[1])

    def cleanup(self) -> None:
        for series in {*self.broken, *self.healed}:
            self.exporter.remove(series)


def engine_for(runbook: Runbook, cluster: KubeCluster, world: World, clock: FakeClock, store: MemoryStore,
               settings: EngineSettings | None = None) -> Engine:
    return Engine(store=store, cluster=cluster, prometheus=world.prometheus, runbooks=[runbook],
                  settings=settings, clock=clock.now, sleep=clock.sleep, events=world.sink)


async def fire(engine: Engine, runbook: Runbook, labels: dict[str, str], episode: str = "1") -> RunRecord:
    assert runbook.matches(labels), f"{runbook.id} does not match {labels}"
    return await engine.start(runbook, Alert(labels, {}, fingerprint=f"fp-{runbook.id}", starts_at=episode),
                              incident_id=f"inc-{episode}")
