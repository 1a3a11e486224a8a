"""Tocsin paging people through Web Push to the fake push service (tests/support/fake_push.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.clock import FakeClock
from tests.support.escalation_env import run
from tests.support.fake_push import FakePushService, FakeSubscription
from tests.support.harness import WEBHOOK_TOKEN, Harness, make_config, start_harness
from tests.support.payloads import alert, payload
from webhook.config import TocsinConfig

ALICE_TOKEN = "alice-token-0123456789abcdef"
BOB_TOKEN = "bob-token-0123456789abcdef0"
MACHINE_TOKEN = "machine-token-0123456789abc"
SUBJECT = "mailto:oncall@example.com"

ONCALL: dict[str, Any] = {"responders": [
    {"name": "alice", "phone": "+4915100000001",
     "contact_rules": [{"channel": "push"}, {"channel": "sms", "after": "2m"}]},
    {"name": "bob", "phone": "+4915100000002", "locale": "de", "contact_rules": [{"channel": "push"}]},
]}
ESCALATION: dict[str, Any] = {
    "policies": [{"name": "page", "steps": [{"targets": [{"user": "alice"}]},
                                            {"after": "30m", "targets": [{"user": "bob"}]}]}],
    "route": {"policy": "page"},
}


def push_config(db_url: str, tmp_path: Path, **webpush: Any) -> TocsinConfig:
    key_file = tmp_path / "vapid.pem"
    if not key_file.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    base = make_config(db_url, tmp_path).model_dump(mode="python")
    auth = {"webhook": {"bearer_tokens": [WEBHOOK_TOKEN]},
            "api_tokens": [{"name": "alice", "token": ALICE_TOKEN, "scopes": ["read", "respond"]},
                           {"name": "bob", "token": BOB_TOKEN, "scopes": ["read", "respond"]},
                           {"name": "deploy-bot", "token": MACHINE_TOKEN, "scopes": ["read", "respond"]}]}
    channels = {"log_file": str(tmp_path / "outbox.jsonl"),
                "webpush": {"vapid_private_key_file": str(key_file), "subject": SUBJECT,
                            "allow_insecure_loopback": True, "timeout": 5, **webpush}}
    return TocsinConfig(server=base["server"], database=base["database"], auth=auth, channels=channels,
                        oncall=ONCALL, escalation=ESCALATION)


@dataclass
class PushEnv:
    h: Harness
    fake: FakePushService

    async def api(self, method: str, path: str, token: str = ALICE_TOKEN, **kwargs: Any) -> httpx.Response:
        return await self.h.client.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)

    async def store(self, sub: FakeSubscription, token: str = ALICE_TOKEN, device: str = "phone") -> int:
        r = await self.api("POST", "/api/v1/push/subscriptions", token, json={**sub.to_json(), "device": device})
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    async def page(self, alertname: str = "HighErrorRate", severity: str = "critical") -> int:
        r = await self.h.post_webhook(payload(alert(alertname=alertname, severity=severity)))
        assert r.status_code == 200, r.text
        items = (await self.api("GET", "/api/v1/incidents")).json()["incidents"]
        return int(items[0]["id"])

    async def run(self, minutes: float = 0, every: float = 30) -> None:
        await run(self.h, minutes, every)

    async def deliveries(self, incident_id: int, channel: str) -> list[dict[str, Any]]:
        found = (await self.api("GET", f"/api/v1/incidents/{incident_id}")).json()
        return [e["detail"] for e in found["timeline"] if e["kind"] == "delivery" and e["detail"]["channel"] == channel]


@pytest.fixture
async def fake_push() -> AsyncIterator[FakePushService]:
    service = FakePushService()
    await service.start()
    yield service
    await service.stop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tocsin.db'}"


@pytest.fixture
async def penv(sqlite_url: str, tmp_path: Path, fake_push: FakePushService) -> AsyncIterator[PushEnv]:
    async for h in start_harness(push_config(sqlite_url, tmp_path), FakeClock()):
        yield PushEnv(h, fake_push)


@pytest.fixture
async def penv_any(db_url: str, tmp_path: Path, fake_push: FakePushService) -> AsyncIterator[PushEnv]:
    """`penv` on SQLite and on PostgreSQL (for the subscription table's SQL)."""
    async for h in start_harness(push_config(db_url, tmp_path), FakeClock()):
        yield PushEnv(h, fake_push)
