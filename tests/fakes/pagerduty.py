"""Fake PagerDuty Events API v2 (POST /v2/enqueue) checked against PagerDuty's OpenAPI contract."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.contracts import check_openapi
from tests.fakes.server import FakeServer, Fault

CONTRACT = "pagerduty-enqueue.openapi.json"
HOST = "https://events.pagerduty.com"
MAX_EVENT_BYTES = 512 * 1024  # PagerDuty rejects larger events


@dataclass
class PagerDutyAlert:
    dedup_key: str
    status: str
    events: list[dict[str, Any]] = field(default_factory=list)


class FakePagerDuty(FakeServer):
    """Answers like PagerDuty: 202 {"status": "success", "dedup_key": ...}; keeps each alert's status."""

    name = "pagerduty"

    def __init__(self) -> None:
        super().__init__()
        self.alerts: dict[str, PagerDutyAlert] = {}

    @property
    def base_url(self) -> str:
        return f"{self.url}/v2"

    def routes(self) -> list[Route]:
        return [Route("/v2/enqueue", self.enqueue, methods=["POST"])]

    def reset_state(self) -> None:
        self.alerts.clear()

    def rate_limit_next(self, times: int = 1, retry_after: int | None = None) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self.inject(Fault(429, {"status": "throttled", "message": "Too many requests"}, headers), times)

    def error_next(self, message: str = "Event object is invalid", times: int = 1) -> None:
        self.inject(Fault(400, {"status": "invalid event", "message": message, "errors": [message]}), times)

    async def enqueue(self, request: Request) -> Response:
        rec = await self.record(request)
        if len(rec.body) > MAX_EVENT_BYTES:
            self.violation(f"event of {len(rec.body)} bytes exceeds {MAX_EVENT_BYTES}")
            return _invalid("Event object is too large")
        problems = check_openapi(CONTRACT, HOST, rec)
        event = rec.json if isinstance(rec.json, dict) else {}
        if event.get("event_action") in {"acknowledge", "resolve"} and not event.get("dedup_key"):
            problems.append("dedup_key is required for acknowledge and resolve")
        if event.get("event_action") == "trigger" and "payload" not in event:
            problems.append("payload is required for trigger")
        if len(event.get("payload", {}).get("summary", "")) > 1024:
            problems.append("payload.summary longer than 1024 characters")
        if problems:
            for p in problems:
                self.violation(p)
            return _invalid("; ".join(problems))
        faulty = await self.misbehave()
        if faulty is not None:
            return faulty
        key = str(event.get("dedup_key") or uuid.uuid4().hex)
        status = {"trigger": "triggered", "acknowledge": "acknowledged", "resolve": "resolved"}
        alert = self.alerts.setdefault(key, PagerDutyAlert(key, "triggered"))
        alert.status = status[event["event_action"]]
        alert.events.append(event)
        return JSONResponse({"status": "success", "message": "Event processed", "dedup_key": key},
                            status_code=202)


def _invalid(message: str) -> Response:
    return JSONResponse({"status": "invalid event", "message": "Event object is invalid", "errors": [message]},
                        status_code=400)
