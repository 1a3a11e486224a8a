"""The one retry loop for side effects: claim due deliveries, run the notifier, record the outcome, back off."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from pydantic import SecretStr

from webhook import metrics
from webhook.config.escalation import RECORD_MARGIN, SEND_TIMEOUT, DeliveryConfig
from webhook.notifiers import Channel, Delivered, DeliveryResult, Notifier, Permanent, Retryable, outbox_repo
from webhook.notifiers.messages import build_message, incident_view
from webhook.store.db import Database

log = logging.getLogger(__name__)

#: A notifier call that takes longer than this is abandoned and retried (notifiers time out well before).
CALL_TIMEOUT = SEND_TIMEOUT.total_seconds()
#: Deliveries one drain call attempts at most (the service loop calls again while there is more).
MAX_JOBS_PER_DRAIN = 5000
#: (incident id, channel, address, reference): a channel's first page of an incident was recorded as delivered.
FirstPage = Callable[[int, str, str, str], None]
#: Finished deliveries are recorded together: when a lane's worth have finished, no send is in flight, or
#: this many seconds after the first of them finished (well inside the claim lease).
FLUSH_WITHIN = 0.1


def backoff(attempt: int, cfg: DeliveryConfig, retry_after: float | None, rnd: random.Random) -> timedelta:
    """Exponential backoff with jitter (half fixed, half random), never sooner than the vendor's Retry-After."""
    ceiling = min(cfg.backoff_base.total_seconds() * 2 ** max(attempt - 1, 0), cfg.backoff_max.total_seconds())
    delay = ceiling / 2 + rnd.uniform(0, ceiling / 2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return timedelta(seconds=delay)


class Outbox:
    """Drains due deliveries; several replicas may drain the same table (claims are leased).

    One lane per channel: each keeps up to `concurrency` sends in flight and claims more (a batch per
    transaction, for every lane that runs low) as they finish, so a slow vendor never holds back the others.
    Outcomes are recorded in one transaction for everything that finished meanwhile (group commit).
    """

    def __init__(self, db: Database, cfg: DeliveryConfig, notifiers: Mapping[Channel, Notifier],
                 routing_keys: Mapping[str, SecretStr], clock: Callable[[], datetime], worker_id: str,
                 group_members: outbox_repo.GroupMembers, public_url: str = "",
                 rnd: random.Random | None = None, on_first_page: FirstPage | None = None) -> None:
        self._db, self._cfg, self._notifiers, self._keys = db, cfg, notifiers, routing_keys
        self._on_first_page = on_first_page
        self._members = group_members
        self._clock, self.worker_id, self._public_url = clock, worker_id, public_url
        self._rnd = rnd or random.Random()
        self._lock = asyncio.Lock()
        self._current: _Drain | None = None
        self._draining = 0  # drains running or waiting for the lock
        self._drained_at = -math.inf  # monotonic time the last drain ended

    async def drain(self, max_jobs: int = MAX_JOBS_PER_DRAIN) -> int:
        """Send everything due now, including what falls due while it runs; returns deliveries attempted.

        Bounded per call (`max_jobs`) so one call cannot run forever. Calls queue behind each other.
        """
        self._draining += 1
        try:
            async with self._lock:
                self._current = _Drain(self, max_jobs)
                try:
                    return await self._current.run()
                finally:
                    self._current = None
        finally:
            self._draining -= 1
            self._drained_at = time.monotonic()

    def idle_for(self) -> float:
        """Seconds since this process last sent (0 while a drain runs): the graph follow-ups wait for a quiet
        moment (graphs.yield_to_pages)."""
        return 0.0 if self._draining else time.monotonic() - self._drained_at

    def poke(self) -> None:
        """New deliveries were written: a running drain looks for them again (it would at its end anyway)."""
        if self._current is not None:
            self._current.poke()

    async def _run(self, job: outbox_repo.Job) -> outbox_repo.Outcome:
        result = await self._call(job)
        now = self._clock()
        attempt = int(job.row["attempts"])
        if isinstance(result, Delivered):
            return outbox_repo.Outcome(job, "delivered", reference=result.reference[:500])
        if isinstance(result, Retryable) and attempt < self._cfg.max_attempts:
            nxt = now + backoff(attempt, self._cfg, result.retry_after, self._rnd)
            return outbox_repo.Outcome(job, "retry", error=result.reason, next_attempt_at=nxt)
        reason = result.reason if isinstance(result, Permanent) else \
            f"gave up after {attempt} attempts: {result.reason}"
        return outbox_repo.Outcome(job, "failed", error=reason)

    async def _call(self, job: outbox_repo.Job) -> DeliveryResult:
        r = job.row
        try:
            views = [incident_view(i, self._public_url, job.alerts.get(i["id"], ())) for i in job.incidents]
            kind = r["kind"]
            if kind == "trigger" and job.previous_reference:
                kind = "reminder"  # one message per incident: later steps update it (Slack) or thread (e-mail)
            msg = build_message(kind, r["channel"], r["address"], r["locale"], views, r["note"],
                                job.previous_reference, self._keys.get(r["address"]) if r["channel"] == "pagerduty"
                                else None, r["responder"], job.summary, self._public_url)
        except ValueError as exc:  # nothing to render (incident gone): retrying cannot help
            return Permanent(f"cannot build message: {exc}")
        try:
            return await asyncio.wait_for(self._notifiers[Channel(r["channel"])].notify(msg), CALL_TIMEOUT)
        except TimeoutError:
            return Retryable("notifier timed out")
        except Exception as exc:  # a notifier bug must not stop the loop; classified retryable, logged loudly
            log.exception("notifier %s raised", r["channel"])
            return Retryable(f"{type(exc).__name__}")

    def _first_pages(self, kept: list[outbox_repo.Outcome]) -> None:
        """Tell the graph follow-ups about first pages now recorded (their reference is what a graph joins)."""
        if self._on_first_page is None:
            return
        for o in kept:
            r = o.job.row
            if o.outcome == "delivered" and r["kind"] == "trigger" and r["incident_id"] is not None \
                    and not r["group_key"] and not o.job.previous_reference and o.reference:
                self._on_first_page(int(r["incident_id"]), str(r["channel"]), str(r["address"]), o.reference)

    def _observe(self, kept: list[outbox_repo.Outcome]) -> None:
        now = self._clock()
        for o in kept:
            channel = o.job.row["channel"]
            metrics.DELIVERIES.labels(channel, {"retry": "retry", "failed": "permanent_failure"}.get(
                o.outcome, o.outcome)).inc()
            if o.outcome == "delivered":
                metrics.DELIVERY_LATENCY.labels(channel).observe(max((now - o.job.row["due_at"]).total_seconds(), 0))
            elif o.outcome == "failed" and o.job.row["fallback"] and o.job.row["severity"] == "critical":
                metrics.DELIVERIES.labels(channel, "fallback").inc()


class _Drain:
    """One drain: per-channel lanes of senders fed by batch claims, outcomes recorded by group commit."""

    def __init__(self, box: Outbox, max_jobs: int) -> None:
        self.box, self.max_jobs = box, max_jobs
        self.width = box._cfg.concurrency  # sends in flight per channel, at most
        self.queued: dict[str, deque[outbox_repo.Job]] = defaultdict(deque)
        self.active: dict[str, int] = defaultdict(int)
        self.dry: set[str] = set()  # channels whose last claim came back short: nothing more due there
        self.outcomes: list[outbox_repo.Outcome] = []  # finished, to be recorded by the next flush
        self.order: dict[int, deque[int]] = defaultdict(deque)  # claimed delivery ids per incident, claim order
        self.finished: dict[int, outbox_repo.Outcome] = {}  # finished but waiting for an earlier one to finish
        self.chain: dict[tuple[int, str, str], asyncio.Future[str | None]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.wake = asyncio.Event()
        self.flush_at = 0.0  # loop time by which finished outcomes are recorded, however few
        self.claimed = 0

    def poke(self) -> None:
        self.dry.clear()
        self.wake.set()

    def _wanted(self) -> dict[str, int]:
        """Channels running low (at most one batch of sends left) and how many rows would fill them up."""
        room = self.max_jobs - self.claimed
        out: dict[str, int] = {}
        for ch in Channel:
            have = len(self.queued[ch.value]) + self.active[ch.value]
            if ch.value not in self.dry and have <= self.width and room > 0:
                out[ch.value] = n = min(2 * self.width - have, self.box._cfg.batch, room)
                room -= n
        return out

    def _idle(self) -> bool:
        return not self.tasks and not self.outcomes and not self.finished and not any(self.queued.values())

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        try:
            while True:
                self.wake.clear()
                if self.outcomes and (len(self.outcomes) >= self.width or not self.tasks
                                      or loop.time() >= self.flush_at):
                    await self._flush()
                wanted = self._wanted()
                if wanted:
                    await self._claim(wanted)
                if self._idle():
                    if self.claimed >= self.max_jobs or len(self.dry) == len(Channel):
                        return self.claimed
                    continue  # lanes not known to be empty: claim for them again
                if self.outcomes:  # record them when more have finished, or soon
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), max(self.flush_at - loop.time(), 0))
                else:
                    await self.wake.wait()
        finally:
            await self._stop()

    async def _claim(self, wanted: dict[str, int]) -> None:
        box = self.box
        jobs = await box._db.write(outbox_repo.claim, box._clock(), box.worker_id, box._cfg.lease, wanted,
                                  box._members)
        self.claimed += len(jobs)
        got: dict[str, int] = defaultdict(int)
        for job in jobs:
            got[job.row["channel"]] += 1
            self.queued[job.row["channel"]].append(job)
            if job.row["incident_id"] is not None:
                self.order[job.row["incident_id"]].append(job.row["id"])
        self.dry.update(ch for ch, n in wanted.items() if got[ch] < n)
        for ch in got:  # one sender per job up to the channel's width; a sender takes the next job when done
            for _ in range(min(self.width - self.active[ch], len(self.queued[ch]))):
                self.active[ch] += 1
                task = asyncio.create_task(self._lane(ch), name=f"tocsin-outbox-{ch}")
                self.tasks.add(task)
                task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.wake.set()

    async def _lane(self, ch: str) -> None:
        try:
            while self.queued[ch]:
                job = self.queued[ch].popleft()
                outcome = await self._send(job)
                if outcome is None:
                    self._skip(job)
                else:
                    self._finish(outcome)
                self.wake.set()
        finally:
            self.active[ch] -= 1

    def _finish(self, outcome: outbox_repo.Outcome) -> None:
        """Outcomes are recorded in claim order per incident, so its timeline reads like the pages went out."""
        self._flush_soon()
        iid = outcome.job.row["incident_id"]
        if iid is None:
            self.outcomes.append(outcome)
            return
        self.finished[outcome.job.row["id"]] = outcome
        self._release(iid)

    def _skip(self, job: outbox_repo.Job) -> None:
        """A job not sent (its claim ran out): the later outcomes of its incident need not wait for it."""
        iid = job.row["incident_id"]
        if iid is None or iid not in self.order:
            return
        self._flush_soon()
        with contextlib.suppress(ValueError):
            self.order[iid].remove(job.row["id"])
        self._release(iid)

    def _flush_soon(self) -> None:
        if not self.outcomes and not self.finished:
            self.flush_at = asyncio.get_running_loop().time() + FLUSH_WITHIN

    def _release(self, iid: int) -> None:
        order = self.order[iid]
        while order and order[0] in self.finished:
            self.outcomes.append(self.finished.pop(order.popleft()))
        if not order:
            del self.order[iid]

    async def _still_claimed(self, job: outbox_repo.Job) -> bool:
        """Whether this drain may send `job` now: its claim must outlast the send and the record of its outcome.

        A job that waited in its lane (or behind an earlier message to the same address) may have little of
        its lease left: the lease is renewed first. One whose lease ran out is not sent: the row is due again
        and another claim (this drain's or a replica's) may already hold it, so sending would page twice.
        """
        box, now = self.box, self.box._clock()
        until: datetime = job.row["claimed_until"]
        if until <= now:
            log.warning("delivery %s not sent: its claim ran out while it waited", job.row["id"])
            return False
        if until - now >= SEND_TIMEOUT + RECORD_MARGIN:
            return True
        renewed: bool = await box._db.write(outbox_repo.renew, job, box.worker_id, now, box._cfg.lease)
        if not renewed:
            log.warning("delivery %s not sent: its claim was taken over while it waited", job.row["id"])
        return renewed

    async def _send(self, job: outbox_repo.Job) -> outbox_repo.Outcome | None:
        """Deliveries to the same incident, channel and address go out in claim order, each seeing the
        reference the one before got (so a follow-up updates the message instead of posting a second).
        None: not sent, the claim is no longer this drain's."""
        r = job.row
        key = (r["incident_id"], r["channel"], r["address"]) if r["incident_id"] is not None \
            and not r["group_key"] else None
        before = self.chain.get(key) if key else None
        mine: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        if key:
            self.chain[key] = mine
        outcome: outbox_repo.Outcome | None = None
        try:
            if before is not None:
                reference = await before
                if reference and not job.previous_reference:
                    job.previous_reference = reference
            if not await self._still_claimed(job):
                return None
            outcome = await self.box._run(job)
            return outcome
        finally:
            mine.set_result(outcome.reference if outcome and outcome.reference else job.previous_reference)
            if key and self.chain.get(key) is mine:
                del self.chain[key]

    async def _flush(self) -> None:
        done, self.outcomes = self.outcomes, []
        box = self.box
        kept, follow_ups = await box._db.write(outbox_repo.complete, done, box._clock(), box.worker_id)
        box._observe(kept)
        box._first_pages(kept)  # after the commit: a graph never holds back the page or its record
        if follow_ups:
            self.dry.clear()  # a fallback or late update was written, due now

    async def _stop(self) -> None:
        """On the way out (normal or not): no new sends; wait for those in flight and record what finished."""
        for q in self.queued.values():
            q.clear()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        self.outcomes += self.finished.values()  # earlier ones were never sent: record what was
        self.finished.clear()
        if self.outcomes:
            with contextlib.suppress(Exception):  # the claims stay leased and are retried after the lease
                await self._flush()
