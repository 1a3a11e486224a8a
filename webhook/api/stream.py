"""GET /api/v1/stream: the board's live changes as Server-Sent Events (docs/console.md, "Live board")."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Iterator
from types import FrameType
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from webhook.api.deps import ActorDep, ServiceDep
from webhook.board.hub import Board, Change, Closed, Full, Item, Reset, Subscription
from webhook.store.db import StorageUnavailable

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["incidents"])

#: How long the browser waits before it reconnects after the stream ended (SSE `retry:`), in milliseconds.
RETRY_MS = 3000


def board(request: Request) -> Board:
    found: Board = request.app.state.board
    return found


def frame(event: str, data: Any, marker: int | None = None) -> bytes:
    head = f"id: {marker}\n" if marker is not None else ""
    body = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)  # row keys are SQLAlchemy's str subclass
    return head.encode() + f"event: {event}\ndata: ".encode() + body + b"\n\n"


def _marker(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    return int(text) if text.isdigit() and len(text) <= 19 else -1  # -1: not one of ours, the page resets


async def _events(b: Board, sub: Subscription, start: int, backlog: list[Change] | None,
                  resumed: bool) -> AsyncIterator[bytes]:
    """`start`: the poller's cursor when the stream subscribed (every later change is in its queue)."""
    try:
        yield f"retry: {RETRY_MS}\n\n".encode()
        if resumed and backlog is None:
            # with the current marker as its id: the browser's own reconnect does not ask for the old one again
            yield frame("reset", {"reason": "Last-Event-ID too old: reload the list"}, start)
            return
        yield frame("ready", {"marker": start, "streams": b.streams}, start)
        for change in backlog or []:
            yield frame("incident", change.incident, change.marker)
        while True:
            try:
                item: Item = await asyncio.wait_for(sub.queue.get(), b.settings.heartbeat)
            except TimeoutError:
                yield frame("ping", {})
                continue
            if isinstance(item, Change):
                yield frame("incident", item.incident, item.marker)
            elif isinstance(item, Reset):
                yield frame("reset", {"reason": "this stream fell behind: reload the list"}, b.cursor)
                return
            elif isinstance(item, Closed):
                return
    finally:
        b.unsubscribe(sub)


@router.get("/stream", summary="Live incident changes (Server-Sent Events) for the board",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}},
                       503: {"description": "too many streams in this process (console.stream_limit)"}})
async def stream(request: Request, svc: ServiceDep, _actor: ActorDep,
                 last_event_id: Annotated[str | None, Header(max_length=64)] = None,
                 after: Annotated[int | None, Query(ge=0, le=2**63 - 1, description=(
                     "the `marker` of the list the page loaded: changes after it come first "
                     "(Last-Event-ID wins: the browser sends it when it reconnects)"))] = None) -> StreamingResponse:
    b = board(request)
    try:
        sub = await b.subscribe()
        start = b.cursor
    except Full as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "30"}) from exc
    except StorageUnavailable as exc:
        raise HTTPException(503, "storage unavailable") from exc
    since = _marker(last_event_id) if last_event_id is not None and last_event_id.strip() else after
    backlog: list[Change] | None = None
    try:
        if since is not None:
            backlog = await b.resume(since) if since >= 0 else None
    except StorageUnavailable:
        backlog = None
    except BaseException:
        b.unsubscribe(sub)
        raise
    return _Stream(b, sub, _events(b, sub, start, backlog, since is not None))


class _Stream(StreamingResponse):
    """Gives the stream's slot back however the response ends, even when the client left before its first byte
    (the events generator never started, so its own cleanup never runs)."""

    def __init__(self, b: Board, sub: Subscription, events: AsyncIterator[bytes]) -> None:
        super().__init__(events, media_type="text/event-stream",
                         headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        self._board, self._sub = b, sub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._board.unsubscribe(self._sub)


@contextlib.contextmanager
def closed_on_exit_signal(b: Board) -> Iterator[None]:
    """While the service runs: SIGTERM/SIGINT end the streams first, then do what they did before (uvicorn's
    graceful shutdown waits for open responses, and a stream never ends by itself)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    before: dict[int, Any] = {}

    def on_signal(sig: int, frame_: FrameType | None) -> None:
        with contextlib.suppress(RuntimeError):  # a loop already closed (an app stopped before another)
            loop.call_soon_threadsafe(b.close)
        prev = before.get(sig)
        if callable(prev):
            prev(sig, frame_)

    for sig in (signal.SIGTERM, signal.SIGINT):
        prev = signal.getsignal(sig)
        if callable(prev):  # someone handles it (uvicorn): chain; the default action needs no streams ended
            before[sig] = prev
            signal.signal(sig, on_signal)
    try:
        yield
    finally:
        for num, handler in before.items():
            if signal.getsignal(num) is on_signal:
                signal.signal(num, handler)
