"""The image follows the page: after a channel's first page of an incident is recorded, its graph is rendered
and attached (Slack: into the message's thread; e-mail: a reply to the page), in a task of its own.

Why not an outbox row: the page must never wait for Prometheus, matplotlib or an upload, and a new row kind
would sit in the channel's lane beside pages (and need a schema change to carry the file). The follow-up starts
only once the page's delivery is committed (its Slack ts or Message-ID known), runs beside the sends and
writes its outcome to the incident timeline: "graph attached (slack)", or "no graph: ..." with the reason.

In memory and bounded: at most MAX_PENDING follow-ups wait or run (more are dropped with a log line), each
tries `graphs.attempts` times with `graphs.retry_delay` between attempts. A restart loses the ones in flight:
the page is out and the console still shows the graph.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol, runtime_checkable

from webhook.clock import Clock
from webhook.config.graphs import GraphsConfig
from webhook.graphs.maker import Graph, GraphMaker, NoGraph
from webhook.incidents.timeline import add_events
from webhook.store.db import Database, StorageUnavailable

log = logging.getLogger(__name__)

MAX_PENDING = 200
#: Follow-ups working at once (each renders once, then uploads; renders are serialised anyway).
CONCURRENCY = 4
#: Channel names as the timeline says them.
SHOWN = {"slack": "Slack upload", "email": "e-mail"}


class AttachFailed(Exception):
    """The vendor did not take the graph; `retryable` as the notifiers classify their own failures."""

    def __init__(self, reason: str, retryable: bool) -> None:
        super().__init__(reason)
        self.reason, self.retryable = reason, retryable


@runtime_checkable
class Attacher(Protocol):
    """A notifier that can put a graph next to a page it sent (`reference`: what that delivery returned)."""

    async def attach_graph(self, reference: str, address: str, graph: Graph) -> None: ...


Sleep = Callable[[float], Awaitable[object]]


class GraphFollowUps:
    def __init__(self, cfg: GraphsConfig, maker: GraphMaker, db: Database, attachers: Mapping[str, Attacher],
                 clock: Clock, sleep: Sleep = asyncio.sleep, pages_idle_for: Callable[[], float] | None = None,
                 ) -> None:
        self._cfg, self._maker, self._db, self._clock, self._sleep = cfg, maker, db, clock, sleep
        #: Seconds since the outbox last sent a page (0 while it sends); set by the escalation worker
        self.pages_idle_for = pages_idle_for
        self._attachers: dict[str, Attacher] = {ch: a for ch, a in attachers.items() if ch in cfg.channels}
        self._tasks: dict[tuple[int, str, str], asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(CONCURRENCY)

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self._attachers)

    def delivered(self, incident_id: int, channel: str, address: str, reference: str) -> None:
        """A first page went out (and is recorded): its graph follows. Returns at once; never raises."""
        if channel not in self._attachers:
            return
        key = (incident_id, channel, address)
        if key in self._tasks:
            return
        if len(self._tasks) >= MAX_PENDING:
            log.warning("graph for incident %s (%s) dropped: %d follow-ups pending", incident_id, channel,
                        len(self._tasks))
            return
        task = asyncio.get_running_loop().create_task(self._follow(incident_id, channel, address, reference),
                                                      name=f"tocsin-graph-{incident_id}-{channel}")
        self._tasks[key] = task
        task.add_done_callback(lambda _t: self._tasks.pop(key, None))

    async def idle(self) -> None:
        """Wait until every follow-up started so far has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks.values()))

    async def close(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _follow(self, incident_id: int, channel: str, address: str, reference: str) -> None:
        try:
            await self._yield()
            async with self._slots:
                text = await self._attempt(incident_id, channel, address, reference)
            if text is not None:
                await self._db.write(add_events, [(incident_id, self._clock(), "graph",
                                                   {"channel": channel, "to": address, "text": text})])
        except StorageUnavailable as exc:
            log.warning("graph outcome for incident %s not recorded: %s", incident_id, exc)
        except Exception:  # a bug here must not go unnoticed, nor hurt anything else
            log.exception("graph follow-up for incident %s (%s) failed", incident_id, channel)

    async def _yield(self) -> None:
        """Pages first: wait until no page has gone out for graphs.yield_to_pages, for graphs.yield_max at most.

        A follow-up's range queries and render run in the render process at the lowest priority, but its upload,
        Prometheus answering and the vendor taking the file share the machine and the network with the pages;
        page latency with graphs on then equals graphs off (bench/graphs.py)."""
        quiet, most = self._cfg.yield_to_pages.total_seconds(), self._cfg.yield_max.total_seconds()
        waited = 0.0
        while self.pages_idle_for is not None and quiet > 0 and waited < most:
            idle = self.pages_idle_for()
            if idle >= quiet:
                return
            pause = min(quiet - idle, most - waited)
            await self._sleep(pause)
            waited += pause

    async def _attempt(self, incident_id: int, channel: str, address: str, reference: str) -> str | None:
        """The timeline text of the outcome; None when there is nothing to say (no Prometheus alert)."""
        attempts = self._cfg.attempts
        delay = self._cfg.retry_delay.total_seconds()
        graph: Graph | NoGraph = NoGraph("not tried")
        for attempt in range(1, attempts + 1):
            graph = await self._maker.for_incident(self._db, incident_id)
            if isinstance(graph, Graph) or not graph.transient:
                break
            if attempt < attempts:
                await self._sleep(delay)
        if isinstance(graph, NoGraph):
            log.info("no graph for incident %s: %s", incident_id, graph.reason)
            return f"no graph: {graph.reason}" if graph.plottable else None
        for attempt in range(1, attempts + 1):
            await self._yield()  # the render took a while: pages may have started meanwhile
            try:
                await self._attachers[channel].attach_graph(reference, address, graph)
            except AttachFailed as exc:
                if not exc.retryable or attempt == attempts:
                    log.warning("graph for incident %s not attached (%s): %s", incident_id, channel, exc.reason)
                    return f"no graph: {SHOWN.get(channel, channel)} failed: {exc.reason}"
                await self._sleep(delay)
            else:
                return f"graph attached ({channel})"
        return None  # not reached: the loop returns on its last attempt
