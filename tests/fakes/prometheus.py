"""Fake Prometheus query API: every instant query returns one sample while `healthy`, none otherwise."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import FakeServer


class FakePrometheus(FakeServer):
    """Enough of /api/v1/query for verify queries: the test decides whether the condition holds."""

    name = "prometheus"

    def __init__(self) -> None:
        super().__init__()
        self.healthy = True

    def routes(self) -> list[Route]:
        return [Route("/api/v1/query", self.query, methods=["GET", "POST"])]

    def reset_state(self) -> None:
        self.healthy = True

    async def query(self, request: Request) -> Response:
        await self.record(request)
        result = [{"metric": {"__name__": "up"}, "value": [0, "1"]}] if self.healthy else []
        return JSONResponse({"status": "success", "data": {"resultType": "vector", "result": result}})
