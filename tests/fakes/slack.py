"""Fake Slack Web API (chat.postMessage, chat.update) checked against Slack's contract."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.contracts import check_block_kit, check_slack
from tests.fakes.server import FakeServer, Fault, Recorded

MAX_TEXT = 40_000


@dataclass
class SlackMessage:
    channel: str
    ts: str
    text: str
    blocks: Any
    thread_ts: str | None = None
    updates: int = 0
    replies: list[SlackMessage] = field(default_factory=list)


class FakeSlack(FakeServer):
    """Answers like Slack: HTTP 200 with ok true/false, 429 + Retry-After when rate limited."""

    name = "slack"

    def __init__(self, tokens: tuple[str, ...] = ("xoxb-test-token",)) -> None:
        super().__init__()
        self.tokens = set(tokens)
        self.missing_channels: set[str] = set()
        self.messages: dict[tuple[str, str], SlackMessage] = {}
        self._ts = itertools.count(1)

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/"

    def routes(self) -> list[Route]:
        return [Route("/api/{method}", self.handle, methods=["POST", "GET"])]

    def reset_state(self) -> None:
        self.messages.clear()
        self.missing_channels.clear()

    # --- faults in Slack's words ---------------------------------------------------------------------
    def rate_limit_next(self, times: int = 1, retry_after: int = 30) -> None:
        self.inject(Fault(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}), times)

    def error_next(self, error: str, times: int = 1) -> None:
        self.inject(Fault(200, {"ok": False, "error": error}), times)

    # --- queries for tests --------------------------------------------------------------------------
    def top_level(self) -> list[SlackMessage]:
        return [m for m in self.messages.values() if m.thread_ts is None]

    def calls(self, method: str) -> list[Recorded]:
        return self.by_path(f"/api/{method}")

    # --- the API ------------------------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        method = request.path_params["method"]
        rec = await self.record(request)
        problems = check_slack(method, rec)
        if rec.param("blocks") is not None:
            problems += check_block_kit(rec.param("blocks"))
        if problems:
            for p in problems:
                self.violation(p)
            return JSONResponse({"ok": False, "error": "invalid_arguments", "problems": problems}, 400)
        faulty = await self.misbehave()
        if faulty is not None:
            return faulty
        token = rec.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.tokens:
            return _error("invalid_auth")
        text = rec.param("text") or ""
        if len(text) > MAX_TEXT:
            return _error("msg_too_long")
        channel = self._channel_id(str(rec.param("channel")))
        if channel is None:
            return _error("channel_not_found")
        if method == "chat.postMessage":
            return self._post(channel, text, rec)
        return self._update(channel, text, rec)

    def _channel_id(self, channel: str) -> str | None:
        if channel in self.missing_channels:
            return None
        if channel.startswith("#"):  # Slack answers with the channel's id, not the name that was posted to
            return "C" + hashlib.sha1(channel.encode()).hexdigest()[:10].upper()
        return channel

    def _post(self, channel: str, text: str, rec: Recorded) -> Response:
        n = next(self._ts)
        ts = f"{1_700_000_000 + n}.{n:06d}"
        thread_ts = rec.param("thread_ts")
        msg = SlackMessage(channel, ts, text, rec.param("blocks"), thread_ts)
        if thread_ts is not None:
            parent = self.messages.get((channel, thread_ts))
            if parent is None:
                return _error("thread_not_found")
            parent.replies.append(msg)
        self.messages[(channel, ts)] = msg
        return JSONResponse({"ok": True, "channel": channel, "ts": ts,
                             "message": {"type": "message", "text": text, "ts": ts}})

    def _update(self, channel: str, text: str, rec: Recorded) -> Response:
        ts = str(rec.param("ts"))
        msg = self.messages.get((channel, ts))
        if msg is None:
            return _error("message_not_found")
        msg.text = text
        if rec.param("blocks") is not None:
            msg.blocks = rec.param("blocks")
        msg.updates += 1
        return JSONResponse({"ok": True, "channel": channel, "ts": ts, "text": text, "message": {"text": text}})


def _error(error: str) -> Response:
    return JSONResponse({"ok": False, "error": error})
