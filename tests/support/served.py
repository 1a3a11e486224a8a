"""A service's app on a real loopback port (uvicorn), for browsers and event streams; its lifespan already runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from tests.support.procs import free_port
from webhook.app import build_asgi

#: How long uvicorn may take to stop once told (the board's streams are ended first).
STOP_BOUND = 30.0


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """`app` (its lifespan running, e.g. in a harness) served until the block ends; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(build_asgi(app), host="127.0.0.1", port=port, lifespan="off",
                                           log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):  # uvicorn offers no "started" event; bounded poll
            if server.started:
                break
            await asyncio.sleep(0.02)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        board = getattr(app.state, "board", None)
        if board is not None:
            board.close()  # open event streams end first, else a graceful stop waits for them
        server.should_exit = True
        await asyncio.wait_for(task, STOP_BOUND)
