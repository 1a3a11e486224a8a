"""The ingest process: `tocsin serve` decides and commits webhook payloads in a child process.

One Python process runs on one core at a time (the GIL). The HTTP process (uvicorn, the API, escalation)
authenticates, reads, validates and prepares each webhook body; the ingest process makes the dedup decisions,
writes and commits (group commit, `webhook.ingest.Ingestor`, with the same in-transaction hooks), then tells
the HTTP process which payloads are durable, and only then does the HTTP process answer 2xx. On two cores this
roughly doubles what one process can ingest (docs/benchmarks.md).

Nothing of record lives in either process: a payload is acknowledged only after the ingest process reported
its commit. If the ingest process dies, every payload in flight gets 503 (Alertmanager retries it), readiness
turns false, and the HTTP process starts a new one. If the HTTP process dies, the ingest process reads EOF
(and the kernel signals it: PR_SET_PDEATHSIG) and exits.

Protocol over a socketpair: frames of a 4-byte big-endian length and a msgpack message.
  HTTP -> ingest: the pickled TocsinConfig (first frame only), then [request id, PreparedPayload] per payload
  ingest -> HTTP: [0] ready, then [1, [[request id, error or None], ...], [BatchSummary...], kick] in bulk
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import logging
import pickle
import socket
import struct
import sys
from collections.abc import Callable

import msgspec

from webhook.config import TocsinConfig
from webhook.ingest.prepare import PreparedPayload
from webhook.ingest.writer import BatchSummary, observe
from webhook.store.db import DataRefused, StorageFailed, StorageUnavailable

log = logging.getLogger(__name__)

_LEN = struct.Struct(">I")
_SUBMIT = msgspec.msgpack.Decoder(tuple[int, PreparedPayload])
_REPLY = msgspec.msgpack.Decoder(tuple[int, list[tuple[int, str | None]], list[BatchSummary], bool])
_ENCODE = msgspec.msgpack.Encoder()
RESULTS = 1
READY = _ENCODE.encode((0,))
#: Read-ahead of the socket streams: everything waiting joins the next batch (64 KiB would cap it at ~15).
_BUFFER = 16 * 1024 * 1024


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    (n,) = _LEN.unpack(await reader.readexactly(4))
    return await reader.readexactly(n)


def _frame(body: bytes) -> bytes:
    return _LEN.pack(len(body)) + body


_REFUSED = "refused: "


def error_text(exc: BaseException) -> str:
    """A failed payload's error as sent back by the ingest process: a data refusal keeps its kind; the driver's
    own text stays in the ingest process's log (it can name hosts and roles)."""
    if isinstance(exc, DataRefused):
        return _REFUSED + "the database refused a value of this payload"
    if isinstance(exc, StorageFailed):
        return "the database did not store the alerts (see the ingest process's log)"
    return str(exc)[:300] or type(exc).__name__


def error_from_text(text: str) -> StorageUnavailable:
    return DataRefused(text.removeprefix(_REFUSED)) if text.startswith(_REFUSED) else StorageUnavailable(text)


def tune_gc() -> None:
    """Called by both processes once started. Everything built so far (modules, schemas, the app) is frozen out
    of the cyclic GC, and young collections run after 20,000 net allocations instead of 700: an alert storm
    allocates and frees many small objects per request, nearly all freed by reference counting, and full
    collections scanning the whole heap cost ~10 % of ingest throughput (docs/benchmarks.md)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


# --- the HTTP process side --------------------------------------------------------------------------------


class ProcessIngestor:
    """IngestSink that hands payloads to the ingest process and waits for its report of the commit."""

    def __init__(self, cfg: TocsinConfig, *, on_kick: Callable[[], None] = lambda: None,
                 restart_delay: float = 1.0) -> None:
        self._cfg, self._on_kick, self._restart_delay = cfg, on_kick, restart_delay
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._deadlines: collections.deque[tuple[float, int]] = collections.deque()
        self._outgoing: list[bytes] = []
        self._next_id = 0
        self._writer: asyncio.StreamWriter | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._expiry: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._stopping = False
        self.starts = 0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._supervise(), name="tocsin-ingest-process")
        self._expiry = loop.create_task(self._expire(), name="tocsin-ingest-deadlines")

    async def wait_ready(self, within: float = 60.0) -> None:
        async with asyncio.timeout(within):
            await self._ready.wait()

    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def submit(self, payload: PreparedPayload) -> None:
        writer = self._writer
        if not self._ready.is_set() or writer is None:
            raise StorageUnavailable("ingest process is not running")
        self._next_id += 1
        rid = self._next_id
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._pending[rid] = fut
        # deadlines in submission order, checked by _expire (one timer for all, not one per request)
        self._deadlines.append((loop.time() + self._cfg.ingest.commit_timeout.total_seconds(), rid))
        self._outgoing.append(_frame(_ENCODE.encode((rid, payload))))
        if len(self._outgoing) == 1:  # one write per loop turn for all payloads submitted in it
            loop.call_soon(self._flush, writer)
        try:
            await fut
        finally:
            self._pending.pop(rid, None)

    def _flush(self, writer: asyncio.StreamWriter) -> None:
        frames, self._outgoing = self._outgoing, []
        if frames and not writer.is_closing():
            writer.write(b"".join(frames))

    async def _expire(self) -> None:
        """Fail requests whose commit was not reported within ingest.commit_timeout (granularity 0.25 s)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.25)
            now = loop.time()
            while self._deadlines and self._deadlines[0][0] <= now:
                fut = self._pending.get(self._deadlines.popleft()[1])
                if fut is not None and not fut.done():
                    fut.set_exception(StorageUnavailable("commit did not finish in time"))
            while self._deadlines and self._deadlines[0][1] not in self._pending:
                self._deadlines.popleft()

    async def stop(self) -> None:
        self._stopping = True
        if self._writer is not None:
            self._writer.close()  # EOF: the ingest process finishes its batch and exits
        proc = self._proc
        if proc is not None and proc.returncode is None:
            try:
                async with asyncio.timeout(5):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for task in (self._task, self._expiry):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._fail_all("shutting down")

    def _fail_all(self, why: str) -> None:
        self._ready.clear()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(StorageUnavailable(why))
        self._pending.clear()

    async def _supervise(self) -> None:
        while not self._stopping:
            try:
                await self._run_once()
            except (OSError, asyncio.IncompleteReadError, msgspec.MsgspecError) as exc:
                if not self._stopping:
                    log.warning("ingest process connection lost: %s", exc)
            finally:
                self._fail_all("ingest process is not running")
                self._writer = None
                if self._proc is not None and self._proc.returncode is None:
                    self._proc.kill()
                    await self._proc.wait()
            if not self._stopping:
                code = self._proc.returncode if self._proc is not None else None
                log.error("ingest process exited (%s); starting a new one in %.1f s", code, self._restart_delay)
                await asyncio.sleep(self._restart_delay)

    async def _run_once(self) -> None:
        parent, child = socket.socketpair()
        try:
            # our own interpreter and module; the only argument is the inherited socket's descriptor
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "webhook.child", str(child.fileno()), pass_fds=[child.fileno()])
        finally:
            child.close()
        self.starts += 1
        reader, writer = await asyncio.open_connection(sock=parent, limit=_BUFFER)
        writer.write(_frame(pickle.dumps(self._cfg)))
        if await _read_frame(reader) != READY:
            raise OSError("ingest process did not report ready")
        self._writer = writer
        self._ready.set()
        log.info("ingest process %d ready", self._proc.pid)
        while True:
            _, results, summaries, kick = _REPLY.decode(await _read_frame(reader))
            for rid, error in results:
                fut = self._pending.get(rid)
                if fut is not None and not fut.done():
                    if error is None:
                        fut.set_result(None)
                    else:
                        fut.set_exception(error_from_text(error))
            for s in summaries:
                observe(s)
            if kick:
                self._on_kick()
