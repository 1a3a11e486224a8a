"""Fake Slack Web API (chat.postMessage, chat.update, the three-step external file upload) checked against
Slack's contracts."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.contracts import check_block_kit, check_slack, check_slack_files
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
    files: list[SlackFile] = field(default_factory=list)  # shared into this message's thread


@dataclass
class SlackFile:
    """An upload: announced (files.getUploadURLExternal), its bytes posted, then completed (shared or not)."""

    id: str
    filename: str
    length: int
    alt_txt: str | None
    data: bytes | None = None
    title: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    completed: bool = False


FILE_METHODS = frozenset({"files.getUploadURLExternal", "files.completeUploadExternal"})


class FakeSlack(FakeServer):
    """Answers like Slack: HTTP 200 with ok true/false, 429 + Retry-After when rate limited."""

    name = "slack"

    def __init__(self, tokens: tuple[str, ...] = ("xoxb-test-token",)) -> None:
        super().__init__()
        self.tokens = set(tokens)
        self.missing_channels: set[str] = set()
        self.messages: dict[tuple[str, str], SlackMessage] = {}
        self.files: dict[str, SlackFile] = {}
        #: files.getUploadURLExternal answers this error while set (the page still goes out)
        self.upload_error: str | None = None
        self._ts = itertools.count(1)
        self._file_ids = itertools.count(1)

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/"

    def routes(self) -> list[Route]:
        return [Route("/api/{method}", self.handle, methods=["POST", "GET"]),
                Route("/upload/{file_id}", self.upload, methods=["POST", "GET", "PUT"])]

    def reset_state(self) -> None:
        self.messages.clear()
        self.missing_channels.clear()
        self.files.clear()
        self.upload_error = None

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
    def shared_files(self) -> list[SlackFile]:
        return [f for f in self.files.values() if f.completed]

    async def handle(self, request: Request) -> Response:
        method = request.path_params["method"]
        rec = await self.record(request)
        if method in FILE_METHODS:
            return await self._files(method, request, rec)
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

    # --- files_upload_v2: files.getUploadURLExternal, POST to the upload URL, files.completeUploadExternal ------
    async def _files(self, method: str, request: Request, rec: Recorded) -> Response:
        params: dict[str, Any] = {k: v for k, v in request.query_params.items()}
        params.update(rec.json if isinstance(rec.json, dict) else {k: v[0] for k, v in rec.form.items()})
        problems = check_slack_files(method, rec, params)
        if problems:
            for p in problems:
                self.violation(p)
            return JSONResponse({"ok": False, "error": "invalid_arguments", "problems": problems}, 400)
        faulty = await self.misbehave()
        if faulty is not None:
            return faulty
        if rec.headers.get("authorization", "").removeprefix("Bearer ") not in self.tokens:
            return _error("invalid_auth")
        if method == "files.getUploadURLExternal":
            if self.upload_error is not None:
                return _error(self.upload_error)
            length = int(params["length"])
            if length <= 0:
                return _error("invalid_length")
            fid = f"F{next(self._file_ids):08d}"
            self.files[fid] = SlackFile(fid, str(params["filename"]), length, params.get("alt_txt"))
            return JSONResponse({"ok": True, "upload_url": f"{self.url}/upload/{fid}", "file_id": fid})
        return self._complete(params)

    def _complete(self, params: dict[str, Any]) -> Response:
        entries = json.loads(str(params["files"]))
        channel = params.get("channel_id")
        thread_ts = params.get("thread_ts")
        parent = None
        if channel is not None:
            if self._channel_id(str(channel)) is None:
                return _error("channel_not_found")
            if thread_ts is not None:
                parent = self.messages.get((str(channel), str(thread_ts)))
                if parent is None or parent.thread_ts is not None:  # only a parent message's ts opens a thread
                    return _error("invalid_thread_ts")
        done: list[dict[str, Any]] = []
        for entry in entries:
            f = self.files.get(entry["id"])
            if f is None or f.data is None:
                return _error("file_not_found")
            if len(f.data) != f.length:
                return _error("file_upload_size_mismatch")
            f.title, f.channel, f.thread_ts, f.completed = entry.get("title"), channel, thread_ts, True
            if parent is not None:
                parent.files.append(f)
            done.append({"id": f.id, "title": f.title or f.filename})
        return JSONResponse({"ok": True, "files": done})

    async def upload(self, request: Request) -> Response:
        rec = await self.record(request)
        problems = check_slack_files("<upload_url>", rec, {})
        if problems:
            for p in problems:
                self.violation(p)
            return Response("invalid", status_code=400)
        f = self.files.get(request.path_params["file_id"])
        if f is None or f.data is not None:  # single-use
            return Response("not found", status_code=404)
        f.data = rec.body
        return Response(f"OK - {len(rec.body)}", media_type="text/plain")


def _error(error: str) -> Response:
    return JSONResponse({"ok": False, "error": error})
