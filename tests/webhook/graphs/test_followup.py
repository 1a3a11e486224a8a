"""Pages first: a graph follow-up waits for a quiet moment of the outbox (graphs.yield_to_pages), at most
graphs.yield_max, before it fetches and renders and again before it uploads. No clock: the pauses are recorded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from webhook.config.graphs import GraphsConfig
from webhook.graphs.followup import GraphFollowUps
from webhook.graphs.maker import Graph, GraphMaker
from webhook.store.db import Database

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
GRAPH = Graph(b"png", "title", "alt", "g.png")


class Log:
    """What happened, in order: the outbox's idleness asked, pauses, the graph built, the upload, the timeline."""

    def __init__(self, idle: list[float]) -> None:
        self.idle, self.events = idle, cast(list[tuple[str, Any]], [])

    def idle_for(self) -> float:
        value = self.idle.pop(0) if len(self.idle) > 1 else self.idle[0]
        self.events.append(("idle", value))
        return value

    async def sleep(self, seconds: float) -> None:
        self.events.append(("sleep", round(seconds, 6)))

    async def for_incident(self, _db: object, incident_id: int) -> Graph:
        self.events.append(("build", incident_id))
        return GRAPH

    async def attach_graph(self, reference: str, address: str, graph: Graph) -> None:
        self.events.append(("upload", reference))

    async def write(self, fn: Callable[..., object], rows: list[tuple[Any, ...]]) -> None:
        self.events.append(("timeline", rows[0][3]["text"]))


def followups(log: Log, **cfg: Any) -> GraphFollowUps:
    return GraphFollowUps(GraphsConfig(**cfg), cast(GraphMaker, log), cast(Database, log), {"slack": log},
                          lambda: NOW, sleep=log.sleep, pages_idle_for=log.idle_for)


async def run(f: GraphFollowUps) -> None:
    f.delivered(7, "slack", "#ops", "C1:1.0")
    await f.idle()


async def test_the_graph_waits_until_no_page_went_out_for_yield_to_pages() -> None:
    log = Log([0.0, 0.05, 0.3, 0.25])  # sending; 50 ms quiet; quiet enough; still quiet before the upload
    await run(followups(log))
    assert log.events == [("idle", 0.0), ("sleep", 0.2), ("idle", 0.05), ("sleep", 0.15), ("idle", 0.3),
                          ("build", 7), ("idle", 0.25), ("upload", "C1:1.0"),
                          ("timeline", "graph attached (slack)")]


async def test_pages_that_started_during_the_render_hold_the_upload_back() -> None:
    log = Log([1.0, 0.0, 0.1, 0.5])  # quiet; a page went out while it rendered; then quiet again
    await run(followups(log))
    assert log.events == [("idle", 1.0), ("build", 7), ("idle", 0.0), ("sleep", 0.2), ("idle", 0.1),
                          ("sleep", 0.1), ("idle", 0.5), ("upload", "C1:1.0"),
                          ("timeline", "graph attached (slack)")]


async def test_a_storm_holds_the_graph_for_yield_max_at_most() -> None:
    log = Log([0.0])  # pages never stop
    await run(followups(log, yield_to_pages="1s", yield_max="2s500ms"))
    sleeps = [v for k, v in log.events if k == "sleep"]
    assert sleeps == [1.0, 1.0, 0.5, 1.0, 1.0, 0.5]  # 2.5 s before the build, 2.5 s before the upload
    assert [k for k, _ in log.events if k not in ("sleep", "idle")] == ["build", "upload", "timeline"]


async def test_zero_means_at_once() -> None:
    log = Log([0.0])
    await run(followups(log, yield_to_pages="0s"))
    assert log.events == [("build", 7), ("upload", "C1:1.0"), ("timeline", "graph attached (slack)")]


@pytest.mark.parametrize("key", ["yield_to_pages", "yield_max"])
def test_negative_durations_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        GraphsConfig(**{key: timedelta(seconds=-1)})
