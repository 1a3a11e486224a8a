"""Runs escalation in the service: registers the hooks, fires due steps on every tick and keeps the outbox's sender
task going (the tick never waits for sends)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime

from webhook import metrics
from webhook.config import TocsinConfig
from webhook.escalation import repo
from webhook.escalation.service import NO_HOLDS, Escalation, Holds
from webhook.graphs.followup import Attacher, GraphFollowUps
from webhook.graphs.maker import GraphMaker
from webhook.notifiers.outbox import MAX_JOBS_PER_DRAIN, Outbox
from webhook.notifiers.registry import Sessions, build_notifiers, routing_keys
from webhook.store.db import Database, StorageUnavailable
from webhook.wakeup import WakeUp

log = logging.getLogger(__name__)

STEPS_PER_TRANSACTION = 200
MAX_ROUNDS = 50


class EscalationWorker:
    """One per process. The truth is in the tables: this object only holds clients and a lock."""

    def __init__(self, cfg: TocsinConfig, db: Database, clock: Callable[[], datetime], *,
                 holds: Holds = NO_HOLDS, graphs: GraphMaker | None = None) -> None:
        self.worker_id = f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._db, self._clock = db, clock
        self._sessions = Sessions(cfg.escalation.delivery.concurrency)
        self._wakeup = WakeUp("tocsin-escalation", self.fire, after=self.send_soon)
        self.escalation = Escalation(cfg, self.worker_id, holds=holds, on_work=self._wakeup.kick)
        notifiers = build_notifiers(cfg, clock, self._sessions, db)
        #: The graph that follows a first page (docs/graphs.md); None when graphs are off.
        self.graphs: GraphFollowUps | None = None
        if graphs is not None:
            attachers = {ch.value: n for ch, n in notifiers.items() if isinstance(n, Attacher)}
            self.graphs = GraphFollowUps(cfg.graphs, graphs, db, attachers, clock)
        self.outbox = Outbox(db, cfg.escalation.delivery, notifiers, routing_keys(cfg), clock, self.worker_id,
                             repo.group_members, cfg.server.public_url,
                             on_first_page=self.graphs.delivered if self.graphs else None)
        if self.graphs is not None:
            self.graphs.pages_idle_for = self.outbox.idle_for
        self._lock = asyncio.Lock()
        self._sender: asyncio.Task[None] | None = None
        self._again = False

    async def tick(self, now: datetime | None = None) -> int:
        """Fire every due step (in transactions of up to 200) and poke the sender. Returns steps fired.

        Never waits for a send: a slow vendor holds a drain for up to the send timeout, and the tick also
        carries the step timer, snooze wake-ups, flap resolution and remediation claims, which must keep time.
        """
        total = await self.fire(now)
        self.send_soon()
        return total

    def send_soon(self) -> None:
        """A drain in progress looks for new deliveries; without one the sender task starts. Returns at once."""
        self._again = True  # a drain ending right now may have missed the poke: the sender drains once more
        self.outbox.poke()
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send(), name="tocsin-outbox")

    async def sent(self) -> None:
        """Wait until the sender task has sent what was due (tests and tools; the service never waits)."""
        while self._sender is not None and not self._sender.done():
            await asyncio.wait({self._sender})  # not cancelled with the caller: the sends belong to the service

    async def fire(self, now: datetime | None = None) -> int:
        """Fire every due step; a drain already running is told to look for the deliveries written."""
        async with self._lock:
            total = 0
            for _ in range(MAX_ROUNDS):  # a step that fired may leave its successor overdue (after downtime)
                fired = await self._db.write(self.escalation.fire_due, now or self._clock(), STEPS_PER_TRANSACTION)
                for f in fired:
                    metrics.ESCALATION_STEPS.labels(f.severity).inc()
                    metrics.ESCALATION_STEP_LAG.observe(max(f.lag, 0.0))
                total += len(fired)
                if not fired:
                    break
            return total

    def start(self) -> None:
        """Work written by a hook (a new incident, an ack) is done right after its commit, not at the next tick.

        Steps are fired as soon as they are written; sending runs beside it in its own task for as long as
        there is work, so a burst of new incidents is not held up behind the sends of the earlier ones.
        """
        self._wakeup.start()

    async def _send(self) -> None:
        try:
            while True:  # bounded calls, repeated while the backlog lasts or new work was announced
                self._again = False
                if await self.outbox.drain() < MAX_JOBS_PER_DRAIN and not self._again:
                    break
        except StorageUnavailable as exc:
            log.warning("outbox drain skipped: %s", exc)
        except Exception:  # the next tick tries again; the rows are still there
            log.exception("outbox drain failed")

    async def close(self) -> None:
        await self._wakeup.close()
        for task in (self._sender,):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.graphs is not None:
            await self.graphs.close()
        await self._sessions.close()
