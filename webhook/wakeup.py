"""A worker's wake-up: work written by a commit is done right after it, not at the next tick.

`kick()` may be called from any thread (the database writer thread runs the hooks that write the work); each
wake-up runs `work` once, one run at a time, and failures are logged and left to the next kick or tick (the
rows stay in the database). Before start() a kick does nothing: the tick finds the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from webhook.store.db import StorageUnavailable

log = logging.getLogger(__name__)


class WakeUp:
    def __init__(self, name: str, work: Callable[[], Awaitable[object]],
                 after: Callable[[], None] = lambda: None) -> None:
        self.name, self._work, self._after = name, work, after
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name=self.name)

    def kick(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._work()
            except StorageUnavailable as exc:
                log.warning("%s: work skipped: %s", self.name, exc)
            except Exception:  # the next kick or tick tries again; the rows are still there
                log.exception("%s: work failed", self.name)
            self._after()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
