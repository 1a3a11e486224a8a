"""The ingest child process's main: the second composition root beside app.py (see webhook/ingest/process.py)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import logging
import os
import pickle
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

from webhook.clock import utcnow
from webhook.config import TocsinConfig
from webhook.escalation.service import Escalation
from webhook.incidents.events import Hooks
from webhook.ingest.process import _BUFFER, _ENCODE, _SUBMIT, READY, RESULTS, _frame, _read_frame, error_text, tune_gc
from webhook.ingest.writer import BatchSummary, Ingestor
from webhook.remediation.bridge import escalation_holds
from webhook.remediation.requests import RemediationRequests
from webhook.service import register_hooks
from webhook.store.db import Database, StorageUnavailable


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when the parent dies (the socket's EOF covers the rest)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class _Replies:
    """Results, batch summaries and escalation wake-ups, sent together once per loop turn."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.results: list[tuple[int, str | None]] = []
        self.summaries: list[BatchSummary] = []
        self.kick = False
        self._scheduled = False

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def result(self, rid: int, fut: asyncio.Future[None]) -> None:
        exc = fut.exception() if not fut.cancelled() else StorageUnavailable("cancelled")
        self.results.append((rid, None if exc is None else error_text(exc)))
        self._schedule()

    def summary(self, s: BatchSummary) -> None:
        self.summaries.append(s)
        self._schedule()

    def wake(self) -> None:
        """A hook wrote work, inside a transaction not yet committed: the kick goes out with that batch's results
        (sent once committed), so the HTTP process never looks for the work before it is visible."""
        self.kick = True

    def flush(self) -> None:
        self._scheduled = False
        msg: tuple[Any, ...] = (RESULTS, self.results, self.summaries, self.kick)
        self.results, self.summaries, self.kick = [], [], False
        if not self.writer.is_closing():
            self.writer.write(_frame(_ENCODE.encode(msg)))


def build_ingest_hooks(cfg: TocsinConfig, wake: Callable[[], None]) -> Hooks:
    """The service's hooks (register_hooks), without the workers' clients: escalation and remediation requests
    wake the HTTP process."""
    escalation = Escalation(cfg, f"{socket.gethostname()[:32]}:{os.getpid()}:ingest",
                            holds=escalation_holds(cfg.remediation), on_work=wake)
    requests = RemediationRequests(cfg.remediation, on_work=wake) if cfg.remediation.enabled else None
    return register_hooks(Hooks(), escalation=escalation, requests=requests)


async def _serve(sock: socket.socket) -> None:
    reader, writer = await asyncio.open_connection(sock=sock, limit=_BUFFER)
    # the first frame comes from our parent over the private socketpair it created for us
    cfg: TocsinConfig = pickle.loads(await _read_frame(reader))  # noqa: S301
    logging.basicConfig(level=cfg.server.log_level.upper(),
                        format="%(asctime)s %(levelname)s ingest %(name)s: %(message)s")
    db = Database.from_url(cfg.database_url(), writers=cfg.ingest.writers, **cfg.database.engine_options())
    out = _Replies(writer)
    loop = asyncio.get_running_loop()

    def wake() -> None:  # escalation's hook runs on the database thread
        loop.call_soon_threadsafe(out.wake)

    hooks = build_ingest_hooks(cfg, wake)
    # One writer (SQLite; PostgreSQL with ingest.writers 1): the whole transaction on this process's event loop,
    # which has nothing else to do meanwhile (the next payloads wait in the socket buffer); no GIL hand-offs.
    ingestor = Ingestor(db, cfg, utcnow, hooks=hooks, observer=out.summary, on_loop=True)
    ingestor.start()
    tune_gc()
    # PostgreSQL writer threads retake the GIL after every server answer; with Python's default 5 ms switch
    # interval each waited behind the event loop (and the other writers) that long (server.switch_interval)
    sys.setswitchinterval(cfg.server.switch_interval)
    writer.write(_frame(READY))
    try:
        while True:
            try:
                frame = await _read_frame(reader)
            except asyncio.IncompleteReadError:
                break  # the HTTP process closed the socket or died
            rid, payload = _SUBMIT.decode(frame)
            try:
                fut = ingestor.enqueue(payload)
            except StorageUnavailable as exc:
                out.results.append((rid, str(exc)))
                out.flush()
                continue
            fut.add_done_callback(functools.partial(out.result, rid))
    finally:
        await ingestor.stop()
        await asyncio.sleep(0)  # let the futures' callbacks record their outcome
        out.flush()
        with contextlib.suppress(OSError):
            await writer.drain()
        writer.close()
        db.close()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops us by EOF
    sock = socket.socket(fileno=int(args[0]))
    try:
        import uvloop

        uvloop.run(_serve(sock))
    except ImportError:
        asyncio.run(_serve(sock))


if __name__ == "__main__":
    main()
