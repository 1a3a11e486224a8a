"""Group commit: requests hand their payload to one writer loop and get their answer after the commit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from webhook import metrics
from webhook.config import TocsinConfig
from webhook.incidents import incident_key, key_labels_for, severity_of, title_of
from webhook.payload import ZERO_TIME, WebhookPayload
from webhook.store.db import Database, StorageUnavailable
from webhook.store.ingest import BatchHook, BatchResult, PreparedAlert, PreparedPayload, ingest_batch

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def prepare(payload: WebhookPayload, cfg: TocsinConfig) -> PreparedPayload:
    """Everything about a payload that needs no database: identities, incident keys, severity, title."""
    out = []
    for a in payload.alerts:
        names = key_labels_for(a.labels, cfg.incidents)
        ends = a.endsAt if a.endsAt is not None and a.endsAt > ZERO_TIME else None
        out.append(PreparedAlert(
            fingerprint=a.identity(), starts_at=a.startsAt.astimezone(UTC), status=a.status,
            labels=a.labels, annotations=a.annotations, ends_at=ends.astimezone(UTC) if ends else None,
            generator_url=a.generatorURL, key=incident_key(a.labels, names),
            key_labels={n: a.labels.get(n, "") for n in names}, severity=severity_of(a.labels),
            title=title_of(a.labels, a.annotations),
        ))
    return PreparedPayload(payload.receiver, payload.groupKey, payload.status, payload.truncatedAlerts, out)


_Item = tuple[PreparedPayload, "asyncio.Future[None]"]


class Ingestor:
    """One writer task drains the queue and commits up to max_batch payloads per transaction."""

    def __init__(self, db: Database, cfg: TocsinConfig, clock: Clock = utcnow,
                 hooks: BatchHook | None = None) -> None:
        self._db, self._cfg, self._clock, self._hooks = db, cfg, clock, hooks
        self._inline = cfg.ingest.inline_sqlite and db.dialect == "sqlite"
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="tocsin-ingest")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while not self._queue.empty():  # nothing acknowledged: they get 503 and Alertmanager retries
            _, fut = self._queue.get_nowait()
            if not fut.done():
                fut.set_exception(StorageUnavailable("shutting down"))

    async def submit(self, payload: PreparedPayload) -> None:
        """Return once the payload is committed; raise StorageUnavailable otherwise."""
        if self._task is None or self._task.done():
            raise StorageUnavailable("ingest writer is not running")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put((payload, fut))
        try:
            async with asyncio.timeout(self._cfg.ingest.commit_timeout.total_seconds()):
                await fut
        except TimeoutError as exc:
            raise StorageUnavailable("commit did not finish in time") from exc

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._cfg.ingest.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._commit(batch)

    async def _commit(self, batch: list[_Item]) -> None:
        args = ([p for p, _ in batch], self._clock(), self._cfg.incidents.flap, self._hooks)
        try:
            if self._inline:
                result = self._db.run_write(ingest_batch, *args)
            else:
                result = await self._db.write(ingest_batch, *args)
        except StorageUnavailable as exc:
            if len(batch) > 1:
                # Isolate a payload that breaks the batch so the others still commit.
                for item in batch:
                    await self._commit([item])
                return
            log.warning("ingest transaction failed: %s", exc)
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        except Exception as exc:  # a bug must not kill the writer loop
            log.exception("ingest failed unexpectedly")
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(StorageUnavailable(f"internal error: {type(exc).__name__}"))
            return
        for _, fut in batch:
            if not fut.done():
                fut.set_result(None)
        self._observe(len(batch), result)

    def _observe(self, n: int, result: BatchResult) -> None:
        metrics.INGEST_BATCH_SIZE.observe(n)
        for reason, count in result.reasons.items():
            metrics.DEDUP_DECISIONS.labels(reason).inc(count)
        for _, sev in result.opened:
            metrics.INCIDENTS_OPENED.labels(sev).inc()
        for _, sev, secs in result.resolved:
            metrics.INCIDENT_TIME_TO_RESOLVE.labels(sev).observe(secs)
        if result.truncated:
            metrics.WEBHOOK_TRUNCATED_ALERTS.inc(result.truncated)
