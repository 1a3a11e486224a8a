"""Group commit: requests hand their payload to one writer loop and get their answer after the commit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import NamedTuple, Protocol

from webhook import metrics
from webhook.clock import Clock, utcnow
from webhook.config import TocsinConfig
from webhook.incidents.events import BatchHook, BatchResult
from webhook.ingest.batch import ingest_batch
from webhook.ingest.prepare import PreparedPayload
from webhook.store.db import Database, StorageUnavailable

log = logging.getLogger(__name__)


_Item = tuple[PreparedPayload, "asyncio.Future[None]"]


class BatchSummary(NamedTuple):
    """What a committed batch did, for the metrics (sent from the ingest process to the HTTP process)."""

    payloads: int
    reasons: dict[str, int]
    opened: list[str]  # severities of the incidents opened
    resolved: list[tuple[str, float]]  # (severity, seconds open) of the incidents resolved
    truncated: int


def summarize(n: int, result: BatchResult) -> BatchSummary:
    return BatchSummary(n, dict(result.reasons), [sev for _, sev in result.opened],
                        [(sev, secs) for _, sev, secs in result.resolved], result.truncated)


def observe(s: BatchSummary) -> None:
    metrics.INGEST_BATCH_SIZE.observe(s.payloads)
    for reason, count in s.reasons.items():
        metrics.DEDUP_DECISIONS.labels(reason).inc(count)
    for sev in s.opened:
        metrics.INCIDENTS_OPENED.labels(sev).inc()
    for sev, secs in s.resolved:
        metrics.INCIDENT_TIME_TO_RESOLVE.labels(sev).observe(secs)
    if s.truncated:
        metrics.WEBHOOK_TRUNCATED_ALERTS.inc(s.truncated)


class IngestSink(Protocol):
    """Where the webhook hands prepared payloads: the in-process Ingestor or the ingest process."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def submit(self, payload: PreparedPayload) -> None:
        """Return once the payload is committed; raise StorageUnavailable otherwise."""
        ...

    def ready(self) -> bool:
        """Whether payloads can be committed now (the readiness probe reports it)."""
        ...


class Ingestor:
    """One writer task drains the queue and commits up to max_batch payloads per transaction."""

    def __init__(self, db: Database, cfg: TocsinConfig, clock: Clock = utcnow,
                 hooks: BatchHook | None = None, observer: Callable[[BatchSummary], None] = observe,
                 on_loop: bool = False) -> None:
        self._db, self._cfg, self._clock, self._hooks = db, cfg, clock, hooks
        self._observer = observer
        #: The ingest process, which has nothing else to do, with one writer (SQLite; PostgreSQL with
        #: ingest.writers 1): the whole transaction on its event loop, no GIL hand-offs to a writer thread.
        #: Otherwise (several PostgreSQL writers, or ingest in the HTTP process) on the database's writer threads.
        self._on_loop = on_loop and db.writers == 1
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(cfg.ingest.max_queue)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """One commit loop per writer thread of the database (PostgreSQL: ingest.writers; SQLite: one)."""
        loop = asyncio.get_running_loop()
        n = 1 if self._on_loop else self._db.writers
        self._tasks = [loop.create_task(self._run(), name=f"tocsin-ingest-{i}") for i in range(n)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        while not self._queue.empty():  # nothing acknowledged: they get 503 and Alertmanager retries
            _, fut = self._queue.get_nowait()
            if not fut.done():
                fut.set_exception(StorageUnavailable("shutting down"))

    def ready(self) -> bool:
        return bool(self._tasks) and not any(t.done() for t in self._tasks)

    def enqueue(self, payload: PreparedPayload) -> asyncio.Future[None]:
        """Queue a payload; the future resolves once it is committed (StorageUnavailable otherwise)."""
        if not self.ready():
            raise StorageUnavailable("ingest writer is not running")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((payload, fut))
        except asyncio.QueueFull as exc:
            raise StorageUnavailable(f"ingest queue full ({self._cfg.ingest.max_queue} payloads waiting)") from exc
        return fut

    async def submit(self, payload: PreparedPayload) -> None:
        """Return once the payload is committed; raise StorageUnavailable otherwise."""
        fut = self.enqueue(payload)
        try:
            async with asyncio.timeout(self._cfg.ingest.commit_timeout.total_seconds()):
                await fut
        except TimeoutError as exc:
            fut.cancel()  # answered 503: the writer skips it if it has not started (Alertmanager sends it again)
            raise StorageUnavailable("commit did not finish in time") from exc

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._cfg.ingest.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            batch = [item for item in batch if not item[1].done()]  # timed out meanwhile: already answered
            if batch:
                await self._commit(batch)

    async def _commit(self, batch: list[_Item]) -> None:
        payloads, now, flap, hooks = [p for p, _ in batch], self._clock(), self._cfg.incidents.flap, self._hooks
        try:
            if self._on_loop:
                result = self._db.run_write(ingest_batch, payloads, now, flap, hooks)
            else:
                result = await self._db.write(ingest_batch, payloads, now, flap, hooks)
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
        self._observer(summarize(len(batch), result))
