"""A fake vendor: a Starlette app on a loopback port (uvicorn in a thread) that records, checks and misbehaves."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

HANG_SECONDS = 10.0


@dataclass
class Recorded:
    """One request as the fake saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    form: dict[str, list[str]] = field(default_factory=dict)
    json: Any = None

    def param(self, name: str) -> Any:
        """A parameter from the JSON body or the form, whichever the client used."""
        if isinstance(self.json, dict):
            return self.json.get(name)
        values = self.form.get(name)
        return values[0] if values else None


@dataclass
class Fault:
    """What to answer instead of the normal reply: a status with body/headers, or no answer at all (hang)."""

    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False


class FakeServer(ABC):
    """Base of the fake vendors: subclasses give routes, contract checks and the vendor's answers."""

    name = "fake"

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self.url = ""
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._generation = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    # --- to be provided by subclasses -----------------------------------------------------------------
    @abstractmethod
    def routes(self) -> list[Route]:
        """The vendor endpoints this fake serves."""

    @abstractmethod
    def reset_state(self) -> None:
        """Forget vendor state (messages, alerts...)."""

    # --- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> FakeServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        app = Starlette(routes=self.routes())
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                                timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=f"fake-{self.name}", daemon=True)
        self._thread.start()
        self._socket = sock
        self._wait_started()
        self.url = f"http://127.0.0.1:{port}"
        return self

    def _wait_started(self) -> None:
        assert self._server is not None
        assert self._thread is not None
        ready = threading.Event()
        for _ in range(500):
            if self._server.started:
                return
            ready.wait(0.01)  # tiny poll while uvicorn binds; no test timing depends on it
            if not self._thread.is_alive():
                break
        raise RuntimeError(f"fake {self.name} did not start")

    def stop(self) -> None:
        self.release_hangs()
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
        if self._socket is not None:
            self._socket.close()  # asyncio closed it with the server already; this is for failed starts
        self._server = None
        self._thread = None
        self._socket = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.violations.clear()
            self._faults.clear()
        self.release_hangs()
        self.reset_state()

    # --- faults ------------------------------------------------------------------------------------
    def inject(self, fault: Fault, times: int = 1) -> None:
        with self._lock:
            self._faults.extend([fault] * times)

    def fail_next(self, times: int = 1, status: int = 500) -> None:
        self.inject(Fault(status=status, body={"error": "injected"}), times)

    def hang_next(self, times: int = 1) -> None:
        """The next requests get no answer until the client gives up (or reset/stop releases them)."""
        self.inject(Fault(hang=True), times)

    def release_hangs(self) -> None:
        with self._lock:
            self._generation += 1

    def _take_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    # --- request handling ----------------------------------------------------------------------------
    async def record(self, request: Request) -> Recorded:
        body = await request.body()
        rec = Recorded(request.method, request.url.path, dict(request.headers), body)
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("application/x-www-form-urlencoded"):
            rec.form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        elif ctype.startswith("application/json") and body:
            try:
                rec.json = json.loads(body)
            except ValueError:
                rec.json = None
        with self._lock:
            self.requests.append(rec)
        return rec

    def violation(self, message: str) -> None:
        with self._lock:
            self.violations.append(message)

    async def misbehave(self) -> Response | None:
        """Apply the next injected fault, if any: returns the response to send instead of the normal one."""
        fault = self._take_fault()
        if fault is None:
            return None
        if fault.hang:
            with self._lock:
                generation = self._generation
            waited = 0.0
            while waited < HANG_SECONDS and self._generation == generation:
                await asyncio.sleep(0.02)
                waited += 0.02
            return Response(status_code=504)
        return JSONResponse(fault.body, status_code=fault.status, headers=fault.headers)

    def by_path(self, suffix: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith(suffix)]
