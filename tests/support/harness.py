"""The service under test: an app with its lifespan running and an HTTP client on it (the `harness` fixture)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from tests.support.clock import FakeClock
from webhook.app import build_asgi, create_app
from webhook.config import TocsinConfig

WEBHOOK_TOKEN = "hook-token-0123456789abcdef"
API_TOKEN = "api-token-0123456789abcdef"


def make_config(db_url: str, tmp_path: Path, **overrides: Any) -> TocsinConfig:
    data: dict[str, Any] = {
        "server": {"var_dir": str(tmp_path / "var")},
        "database": {"url": db_url},
        "auth": {"webhook": {"bearer_tokens": [WEBHOOK_TOKEN], "basic": {"username": "am", "password": "am-pass-123"}},
                 "api_tokens": [{"name": "alice", "token": API_TOKEN,
                                  "scopes": ["read", "respond", "remediate", "approve", "windows", "schedules"]}]},
    }
    for k, v in overrides.items():
        data[k] = {**data.get(k, {}), **v}
    return TocsinConfig(**data)


@dataclass
class Harness:
    app: FastAPI
    client: httpx.AsyncClient
    clock: FakeClock
    cfg: TocsinConfig

    async def post_webhook(self, body: Any, token: str = WEBHOOK_TOKEN) -> httpx.Response:
        return await self.client.post("/webhook/alertmanager", json=body,
                                      headers={"Authorization": f"Bearer {token}"})

    async def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {API_TOKEN}", **kwargs.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **kwargs)


async def start_harness(cfg: TocsinConfig, clock: FakeClock) -> AsyncIterator[Harness]:
    app = create_app(cfg, clock=clock, tick_seconds=0)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=build_asgi(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://tocsin.test") as client:
            yield Harness(app, client, clock, cfg)
