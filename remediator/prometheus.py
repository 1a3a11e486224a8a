"""The only module that queries Prometheus: instant queries over its HTTP API with httpx."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


class PrometheusError(Exception):
    """Prometheus could not answer (unreachable, bad query, error status)."""


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector."""

    labels: dict[str, str]
    value: float


class Prometheus:
    """Instant queries against /api/v1/query. `transport` is the test seam (httpx.MockTransport)."""

    def __init__(self, url: str, *, timeout: float = 10.0, transport: httpx.AsyncBaseTransport | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self._client = httpx.AsyncClient(base_url=url.rstrip("/"), timeout=timeout, transport=transport,
                                         headers=headers)

    async def query(self, query: str) -> list[Sample]:
        """Evaluate query now; scalars become one sample without labels."""
        try:
            response = await self._client.get("/api/v1/query", params={"query": query})
        except httpx.HTTPError as exc:
            raise PrometheusError(f"Prometheus unreachable: {exc}") from exc
        try:
            body: dict[str, Any] = response.json()
        except ValueError as exc:
            raise PrometheusError(f"Prometheus answered {response.status_code} without JSON") from exc
        if body.get("status") != "success":
            raise PrometheusError(f"query {query!r} failed: {body.get('errorType')}: {body.get('error')}")
        data = body["data"]
        if data["resultType"] == "vector":
            return [Sample(dict(item["metric"]), float(item["value"][1])) for item in data["result"]]
        if data["resultType"] == "scalar":
            return [Sample({}, float(data["result"][1]))]
        raise PrometheusError(f"query {query!r} returned a {data['resultType']}, expected an instant vector")

    async def holds(self, query: str) -> bool:
        """A condition holds when the query returns at least one sample (as in alerting rules)."""
        return bool(await self.query(query))

    async def aclose(self) -> None:
        await self._client.aclose()
