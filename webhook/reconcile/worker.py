"""The reconcile singleton: at most once per `reconcile.interval`, on the leader, poll every Alertmanager and apply
what two consecutive complete polls agree on (docs/reconcile.md)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from webhook import metrics
from webhook.config import TocsinConfig
from webhook.incidents.events import BatchHook
from webhook.ingest.writer import observe, summarize
from webhook.reconcile import repo
from webhook.reconcile.alertmanager import AlertmanagerAPI, AlertmanagerUnavailable, Transport
from webhook.reconcile.apply import Applied, Fence, apply_plan
from webhook.reconcile.decide import Held, Key, Listed, Memory, Plan, Suppression, merge, plan
from webhook.store.db import Connection, Database

log = logging.getLogger("tocsin.reconcile")

#: Silences remembered (id -> comment, author): more than any sane number of active silences.
_SILENCE_CACHE = 4096


class Reconciler:
    """A ticker singleton (Service.singletons): `tick(now)` gates itself to the interval, `poll(now)` polls now."""

    def __init__(self, cfg: TocsinConfig, db: Database, hooks: BatchHook | None, *, fence: Fence | None = None,
                 transport: Transport | None = None) -> None:
        self.cfg, self.db, self.hooks, self.fence = cfg, db, hooks, fence
        self._transport = transport
        self._next: datetime | None = None
        #: what the last complete poll found; lost on restart or leader change (then two polls again)
        self.memory = Memory()
        self._silences: dict[str, dict[str, Any]] = {}

    async def tick(self, now: datetime | None = None) -> int:
        rc = self.cfg.reconcile
        if now is None or not rc.enabled or (self._next is not None and now < self._next):
            return 0
        self._next = now + rc.interval
        return await self.poll(now)

    async def poll(self, now: datetime) -> int:
        """One poll: alerts closed + adopted + incidents whose suppression changed (0 when it decided nothing)."""
        async with AlertmanagerAPI(self.cfg.reconcile, self._transport) as am:
            try:
                listings = await am.poll()
            except AlertmanagerUnavailable as exc:
                metrics.RECONCILE_POLLS.labels("failed").inc()
                log.warning("reconcile: poll decides nothing, an Alertmanager did not answer: %s", exc)
                return 0
            listed = merge(listings)
            held, known, stored = await self.db.read(_read, listed)
            todo = plan(held, known, listed, self.memory, stored)
            silences = await self._silence_details(am, todo)
        done = await self.db.write(apply_plan, todo, silences, now, self.cfg, self.hooks, self.fence)
        if done.fenced:
            metrics.RECONCILE_POLLS.labels("not_leader").inc()
            self.memory = Memory()  # another replica leads now; what we saw is not its history
            return 0
        self.memory = todo.memory
        self._observe(done, len(listed))
        return done.closed + done.adopted + done.suppression_changes

    async def _silence_details(self, am: AlertmanagerAPI, todo: Plan) -> dict[str, dict[str, Any]]:
        wanted = {s for c in todo.suppression if c.after is not None for s in c.after.silenced_by}
        for sid in sorted(wanted - self._silences.keys()):
            if len(self._silences) >= _SILENCE_CACHE:
                self._silences.clear()
            self._silences[sid] = await am.silence(sid)
        return {s: self._silences[s] for s in wanted if s in self._silences}

    def _observe(self, done: Applied, listed: int) -> None:
        metrics.RECONCILE_POLLS.labels("ok").inc()
        metrics.RECONCILE_CLOSED.inc(done.closed)
        metrics.RECONCILE_ADOPTED.inc(done.adopted)
        if done.result is not None:
            observe(summarize(1, done.result))
        if done.closed or done.adopted or done.suppression_changes:
            log.info("reconcile: %d alerts listed; closed %d gone, adopted %d, %d suppression changes", listed,
                     done.closed, done.adopted, done.suppression_changes)


def _read(conn: Connection, listed: dict[Key, Listed]) -> tuple[list[Held], set[Key], dict[int, Suppression]]:
    return repo.held_alerts(conn), repo.firing_keys(conn, set(listed)), repo.suppressions(conn)
