"""A Tocsin with every channel pointed at the fake vendors, responders, schedules and severity policies (the `env`
fixture), and signed Slack and Twilio callbacks to it."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, FakeTwilio
from tests.support.harness import Harness, make_config
from webhook.app import tick
from webhook.config import TocsinConfig
from webhook.escalation.worker import EscalationWorker
from webhook.notifiers.twilio.signature import twilio_signature

SIGNING_SECRET = "slack-signing-secret-0123"
PUBLIC = "https://tocsin.example.com"
TOCSIN_NUMBER = "+15005550006"
ALICE, BOB, CAROL = "+4915100000001", "+4915100000002", "+4915100000003"

ONCALL: dict[str, Any] = {
    "responders": [
        {"name": "alice", "phone": ALICE, "slack_user": "U0ALICE", "email": "alice@example.com",
         "contact_rules": [{"channel": "slack"}, {"channel": "sms", "after": "2m"}]},
        {"name": "bob", "phone": BOB, "slack_user": "U0BOB", "locale": "de"},
        {"name": "carol", "phone": CAROL, "email": "carol@example.com", "contact_rules": [{"channel": "sms"}]},
    ],
    "teams": [{"name": "platform", "members": ["alice", "bob"], "lead": "carol", "schedule": "primary"}],
    "schedules": [
        {"name": "primary", "layers": [{"name": "weekly", "start": "2026-01-05", "participants": ["alice"]}]},
        {"name": "secondary", "layers": [{"name": "weekly", "start": "2026-01-05", "participants": ["bob"]}]},
    ],
}

POLICIES: list[dict[str, Any]] = [
    {"name": "critical", "repeat": 1, "repeat_every": "30m", "steps": [
        {"after": "0m", "targets": [{"pagerduty": "platform"}, {"slack": "#ops"},
                                    {"schedule": "primary", "via": ["sms"]}]},
        {"after": "5m", "targets": [{"schedule": "primary", "via": ["voice"]}]},
        {"after": "10m", "targets": [{"schedule": "secondary", "via": ["sms"]},
                                     {"team": "platform", "role": "lead", "via": ["sms"]}]},
    ]},
    {"name": "high", "steps": [{"targets": [{"slack": "#ops"}, {"schedule": "primary"}]},
                               {"after": "15m", "targets": [{"schedule": "secondary", "via": ["sms"]}]}]},
    {"name": "medium", "steps": [{"targets": [{"slack": "#ops"}]}],
     "active_hours": [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00",
                       "timezone": "Europe/Berlin"}]},
    {"name": "low", "digest": {"at": "09:00", "timezone": "Europe/Berlin",
                               "targets": [{"email": "oncall@example.com"}]}},
]

ROUTE: dict[str, Any] = {"policy": "high", "routes": [
    {"name": "critical", "matchers": ['severity="critical"'], "policy": "critical"},
    {"name": "medium", "matchers": ["severity=medium"], "policy": "medium"},
    {"name": "low", "matchers": ["severity=~low|info"], "policy": "low"},
]}


#: Vendor timeouts of the escalation tests: generous, so a loaded machine never turns a slow fake into a timeout, a
#: retry and a second page (tests of timeouts set their own, see tests/webhook/notifiers).
FAKE_TIMEOUT = 15


def esc_config(db_url: str, tmp_path: Path, slack: FakeSlack, twilio: FakeTwilio, pagerduty: FakePagerDuty,
               smtp_port: int | None = None, **escalation: Any) -> TocsinConfig:
    channels: dict[str, Any] = {
        "slack": {"token": "xoxb-test-token", "signing_secret": SIGNING_SECRET, "base_url": slack.base_url,
                  "timeout": FAKE_TIMEOUT},
        "twilio": {"account_sid": TEST_ACCOUNT_SID, "auth_token": TEST_AUTH_TOKEN, "from_number": TOCSIN_NUMBER,
                   "public_url": PUBLIC, "base_url": twilio.url, "timeout": FAKE_TIMEOUT},
        "pagerduty": {"services": {"platform": "pd-routing-key-platform"}, "base_url": pagerduty.base_url,
                      "timeout": FAKE_TIMEOUT},
        "log_file": str(tmp_path / "outbox.jsonl"),
    }
    if smtp_port is not None:
        channels["email"] = {"host": "127.0.0.1", "port": smtp_port, "sender": "Tocsin <tocsin@example.com>",
                             "starttls": False}
    esc = {"policies": POLICIES, "route": ROUTE, **escalation}
    base = make_config(db_url, tmp_path).model_dump(mode="python")
    auth = {"webhook": {"bearer_tokens": ["hook-token-0123456789abcdef"]},
            "api_tokens": [{"name": "alice", "token": "api-token-0123456789abcdef"},
                           {"name": "calendars", "token": CALENDAR_TOKEN, "scopes": ["calendar"]},
                           {"name": "bob", "token": READER_TOKEN, "scopes": ["read"]}]}
    return TocsinConfig(server=base["server"], database=base["database"], auth=auth,
                        channels=channels, oncall=ONCALL, escalation=esc)


CALENDAR_TOKEN = "calendar-token-0123456789abcdef"
READER_TOKEN = "reader-token-0123456789abcdef"


async def run(h: Harness, minutes: float = 0, every: float = 30) -> None:
    """Tick now, then every `every` seconds of fake time for `minutes`; after each tick, wait for its sends."""
    svc = h.app.state.svc
    await tick_and_send(svc)
    elapsed = 0.0
    while elapsed < minutes * 60:
        h.clock.advance(seconds=every)
        elapsed += every
        await tick_and_send(svc)


async def tick_and_send(svc: Any) -> None:
    """The service's tick, then the sends it started (the tick itself never waits for the outbox)."""
    await tick(svc)
    for worker in svc.workers:
        if isinstance(worker, EscalationWorker):
            await worker.sent()


def slack_click(h: Harness, incident_id: int, action: str = "tocsin_ack", user: str = "U0ALICE",
                secret: str = SIGNING_SECRET, age: int = 0) -> tuple[bytes, dict[str, str]]:
    payload = {"type": "block_actions", "user": {"id": user},
               "actions": [{"action_id": action, "value": str(incident_id)}]}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(int(h.clock().timestamp()) - age)
    sig = "v0=" + hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return body, {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig,
                  "Content-Type": "application/x-www-form-urlencoded"}


def twilio_post(path: str, params: dict[str, str], query: str = "", token: str = TEST_AUTH_TOKEN,
                ) -> tuple[str, bytes, dict[str, str]]:
    url = f"{PUBLIC}{path}" + (f"?{query}" if query else "")
    sig = twilio_signature(_secret(token), url, params)
    return (path + (f"?{query}" if query else ""), urlencode(params).encode(),
            {"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"})


def _secret(token: str) -> Any:
    from pydantic import SecretStr
    return SecretStr(token)


@dataclass
class Env:
    h: Harness
    slack: FakeSlack
    twilio: FakeTwilio
    pd: FakePagerDuty

    async def page(self, **labels: str) -> int:
        from tests.support.payloads import alert, payload
        r = await self.h.post_webhook(payload(alert(**labels)))
        assert r.status_code == 200, r.text
        items = (await self.h.api("GET", "/api/v1/incidents")).json()["incidents"]
        return int(items[0]["id"])

    async def incident(self, iid: int) -> dict[str, Any]:
        return (await self.h.api("GET", f"/api/v1/incidents/{iid}")).json()  # type: ignore[no-any-return]
