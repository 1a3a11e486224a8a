"""The one retry loop for side effects: claim due deliveries, run the notifier, record the outcome, back off."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from pydantic import SecretStr

from webhook import metrics
from webhook.escalation_config import DeliveryConfig
from webhook.messages import build_message, incident_view
from webhook.notifiers import Channel, Delivered, DeliveryResult, Notifier, Permanent, Retryable
from webhook.store import outbox_repo
from webhook.store.db import Database

log = logging.getLogger(__name__)

#: A notifier call that takes longer than this is abandoned and retried (notifiers time out well before).
CALL_TIMEOUT = 60.0


def backoff(attempt: int, cfg: DeliveryConfig, retry_after: float | None, rnd: random.Random) -> timedelta:
    """Exponential backoff with jitter (half fixed, half random), never sooner than the vendor's Retry-After."""
    ceiling = min(cfg.backoff_base.total_seconds() * 2 ** max(attempt - 1, 0), cfg.backoff_max.total_seconds())
    delay = ceiling / 2 + rnd.uniform(0, ceiling / 2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return timedelta(seconds=delay)


class Outbox:
    """Drains due deliveries in batches; several replicas may drain the same table (claims are leased)."""

    def __init__(self, db: Database, cfg: DeliveryConfig, notifiers: Mapping[Channel, Notifier],
                 routing_keys: Mapping[str, SecretStr], clock: Callable[[], datetime], worker_id: str,
                 public_url: str = "", rnd: random.Random | None = None) -> None:
        self._db, self._cfg, self._notifiers, self._keys = db, cfg, notifiers, routing_keys
        self._clock, self.worker_id, self._public_url = clock, worker_id, public_url
        self._rnd = rnd or random.Random()
        self._sem = asyncio.Semaphore(cfg.concurrency)

    async def drain(self, max_batches: int = 50) -> int:
        """Send everything due now (bounded per call so one tick cannot run forever)."""
        sent = 0
        for _ in range(max_batches):
            jobs = await self._db.write(outbox_repo.claim, self._clock(), self.worker_id, self._cfg.lease,
                                        self._cfg.batch)
            if not jobs:
                break
            outcomes = await asyncio.gather(*(self._run(j) for j in jobs))
            kept = await self._db.write(outbox_repo.complete, list(outcomes), self._clock(), self.worker_id)
            self._observe(kept)
            sent += len(jobs)
            if len(jobs) < self._cfg.batch:
                break
        return sent

    async def _run(self, job: outbox_repo.Job) -> outbox_repo.Outcome:
        async with self._sem:
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
                                else None, r["responder"])
        except ValueError as exc:  # nothing to render (incident gone): retrying cannot help
            return Permanent(f"cannot build message: {exc}")
        try:
            return await asyncio.wait_for(self._notifiers[Channel(r["channel"])].notify(msg), CALL_TIMEOUT)
        except TimeoutError:
            return Retryable("notifier timed out")
        except Exception as exc:  # a notifier bug must not stop the loop; classified retryable, logged loudly
            log.exception("notifier %s raised", r["channel"])
            return Retryable(f"{type(exc).__name__}")

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
