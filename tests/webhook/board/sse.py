"""Helpers of the board tests: the service served by uvicorn on a loopback port, and a bounded SSE reader."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.harness import API_TOKEN, Harness
from tests.support.served import served as serve_app

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
BOUND = 10.0  # seconds: no event this late means the test failed (never a wait for something to happen)


@dataclass
class Event:
    event: str
    data: Any
    id: int | None = None


@dataclass
class Reader:
    response: httpx.Response
    _lines: AsyncIterator[str] = field(init=False)

    def __post_init__(self) -> None:
        self._lines = self.response.aiter_lines()

    async def next(self, kind: str | None = None, bound: float = BOUND) -> Event:
        """The next event (of `kind`, skipping pings and others); fails when none comes within `bound` seconds."""
        async with asyncio.timeout(bound):
            while True:
                ev = await self._one()
                if kind is None or ev.event == kind:
                    return ev

    async def _one(self) -> Event:
        fields: dict[str, str] = {}
        async for line in self._lines:
            if line == "":
                if "event" in fields or "data" in fields:
                    mark = fields.get("id")
                    return Event(fields.get("event", "message"), json.loads(fields.get("data", "null")),
                                 int(mark) if mark else None)
                fields = {}
                continue
            name, _, value = line.partition(":")
            if name:
                fields[name] = value.removeprefix(" ")
        raise EOFError("the stream ended")

    async def ended(self, bound: float = BOUND) -> bool:
        """True once the server ended the stream (every remaining event is read and dropped)."""
        async with asyncio.timeout(bound):
            async for _ in self._lines:
                pass
        return True


@asynccontextmanager
async def served(h: Harness) -> AsyncIterator[str]:
    """The harness's app (its lifespan already running) on a real port: SSE needs a server that streams."""
    async with serve_app(h.app) as url:
        yield url


@asynccontextmanager
async def stream(base: str, headers: dict[str, str] | None = None,
                 params: dict[str, str] | None = None) -> AsyncIterator[Reader]:
    async with httpx.AsyncClient(base_url=base, timeout=BOUND) as client, \
            client.stream("GET", "/api/v1/stream", headers={**AUTH, **(headers or {})}, params=params) as r:
        assert r.status_code == 200, await r.aread()
        assert r.headers["content-type"].startswith("text/event-stream")
        yield Reader(r)
