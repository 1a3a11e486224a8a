"""One poller per process reads the change feed and fans it out to the board's streams (bounded queues)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from webhook.board import queries as feed
from webhook.config.console import ConsoleConfig
from webhook.store.db import Database, StorageUnavailable

log = logging.getLogger(__name__)

#: Rows read per poll; a storm's backlog is read in several polls, one right after the other.
POLL_ROWS = 2000
#: Ids skipped by the feed (transactions still open, or rolled back) remembered at most this many.
MAX_GAPS = 10_000
#: A new stream waits this long for the poller's first read of the database, then gets 503.
READY_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """The board stream's knobs (console.stream_* in the config, docs/console.md "Live board")."""

    poll: float = 1.0
    heartbeat: float = 15.0
    limit: int = 200
    queue: int = 500
    resume_limit: int = 500
    gap_timeout: float = 60.0


def stream_settings(cfg: ConsoleConfig) -> StreamSettings:
    return StreamSettings(poll=cfg.stream_poll.total_seconds(), heartbeat=cfg.stream_heartbeat.total_seconds(),
                          limit=cfg.stream_limit, queue=cfg.stream_queue, resume_limit=cfg.stream_resume_limit)


@dataclass(frozen=True, slots=True)
class Change:
    marker: int
    incident: dict[str, Any]


class Reset:
    """The stream fell behind (or the feed cannot say what changed): the page reloads its list."""


class Closed:
    """The service stops: the stream ends (the browser reconnects to another replica or after the restart)."""


RESET, CLOSED = Reset(), Closed()
Item = Change | Reset | Closed


class Full(Exception):
    """As many streams as console.stream_limit are open in this process."""


class Subscription:
    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[Item] = asyncio.Queue(size)
        self.dropped = False

    def offer(self, item: Item) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:  # a slow client: it gets a reset and goes (the page reloads its list)
            self.end(RESET)

    def end(self, item: Reset | Closed) -> None:
        self.dropped = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(item)


class Board:
    """The subscribers of this process and the one poller that feeds them while there is any."""

    def __init__(self, db: Database, settings: StreamSettings) -> None:
        self._db, self.settings = db, settings
        self._subs: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.cursor = 0  # the newest marker the poller handled
        self._gaps: dict[int, float] = {}  # skipped id -> monotonic deadline
        self._closed = False

    @property
    def streams(self) -> int:
        return len(self._subs)

    async def subscribe(self) -> Subscription:
        """A new stream's queue; the poller starts with the first. Raises Full at the limit."""
        if self._closed:
            raise Full("the service is stopping")
        if len(self._subs) >= self.settings.limit:
            raise Full(f"too many live streams: {len(self._subs)} are open (console.stream_limit)")
        sub = Subscription(self.settings.queue)
        self._subs.add(sub)
        if self._task is None or self._task.done():
            self._ready.clear()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="tocsin-board-poller")
        try:  # the cursor is known: what the stream says is "now"
            await asyncio.wait_for(self._ready.wait(), READY_TIMEOUT)
        except TimeoutError as exc:
            self.unsubscribe(sub)
            raise StorageUnavailable("the change feed could not be read") from exc
        except BaseException:
            self.unsubscribe(sub)
            raise
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        if not self._subs and self._task is not None:
            self._task.cancel()  # the last stream went: no poller until the next one comes
            self._task = None

    def close(self) -> None:
        """Every stream ends now (shutdown); no new one opens."""
        self._closed = True
        for sub in list(self._subs):
            sub.end(CLOSED)
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def aclose(self) -> None:
        task = self._task
        self.close()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                if not self._ready.is_set():
                    self.cursor, self._gaps = await self._db.read(feed.top_marker), {}
                    self._ready.set()
                more = await self.poll()
            except StorageUnavailable as exc:
                log.warning("board poll skipped: %s", exc)
                more = False
            except Exception:  # the streams keep their heartbeat; the next poll tries again
                log.exception("board poll failed")
                more = False
            if not more:
                await asyncio.sleep(self.settings.poll)

    async def poll(self) -> bool:
        """Read the changes since the cursor and hand them out; True when a full page came (read again now)."""
        now = time.monotonic()
        self._gaps = {g: d for g, d in self._gaps.items() if d > now}
        rows = await self._db.read(feed.changes, self.cursor, list(self._gaps), POLL_ROWS)
        if not rows:
            return False
        latest: dict[int, int] = {}
        for marker, incident_id in rows:
            if marker > self.cursor:
                self._note_gaps(marker, now)
                self.cursor = marker
            else:
                self._gaps.pop(marker, None)
            latest[incident_id] = marker
        found = await self._db.read(feed.board_rows, latest)
        for incident_id, marker in sorted(latest.items(), key=lambda x: x[1]):
            if incident_id in found:
                self.publish(Change(marker, found[incident_id]))
        return len(rows) == POLL_ROWS

    def _note_gaps(self, marker: int, now: float) -> None:
        for g in range(self.cursor + 1, min(marker, self.cursor + 1 + MAX_GAPS)):
            self._gaps[g] = now + self.settings.gap_timeout
        while len(self._gaps) > MAX_GAPS:
            self._gaps.pop(min(self._gaps))

    def publish(self, item: Item) -> None:
        for sub in list(self._subs):
            sub.offer(item)

    async def resume(self, after: int) -> list[Change] | None:
        """The changes after a client's Last-Event-ID, None when it is too old (or not ours): reset."""
        if after > self.cursor:
            return None
        found = await self._db.read(feed.since, after, self.settings.resume_limit)
        return None if found is None else [Change(m, row) for m, row in found]
