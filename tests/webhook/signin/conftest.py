"""A Tocsin with e-mail (a real SMTP server), Slack and Twilio (the fakes), four responders and console roles."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, FakeTwilio
from tests.support.clock import FakeClock
from tests.support.fake_oidc import CLIENT_ID, CLIENT_SECRET, FakeOidc
from tests.support.harness import Harness, make_config, start_harness
from tests.support.signin import SignedIn, sign_in
from tests.support.smtp import Inbox
from webhook.config import TocsinConfig

ONCALL: dict[str, Any] = {
    "responders": [
        {"name": "alice", "full_name": "Alice Example", "email": "alice@example.com", "slack_user": "U0ALICE",
         "timezone": "Europe/Berlin"},
        {"name": "bob", "slack_user": "U0BOB", "locale": "de"},
        {"name": "carol", "phone": "+4915100000003", "contact_rules": [{"channel": "sms"}]},
        {"name": "dave", "contact_rules": []},
    ],
    "teams": [{"name": "sre", "members": ["bob"], "lead": "carol"}],
}
ROLES = {"approve": ["alice"], "windows": ["team:sre"], "schedules": ["alice", "team:sre"]}


def signin_config(db_url: str, tmp_path: Path, smtp_port: int, slack: FakeSlack, twilio: FakeTwilio,
                  **console: Any) -> TocsinConfig:
    channels = {
        "email": {"host": "127.0.0.1", "port": smtp_port, "sender": "Tocsin <tocsin@example.com>", "starttls": False},
        "slack": {"token": "xoxb-test-token", "signing_secret": "slack-signing-secret-0123", "base_url": slack.base_url,
                  "timeout": 2},
        "twilio": {"account_sid": TEST_ACCOUNT_SID, "auth_token": TEST_AUTH_TOKEN, "from_number": "+15005550006",
                   "public_url": "https://tocsin.example.com", "base_url": twilio.url, "timeout": 2},
        "log_file": str(tmp_path / "outbox.jsonl"),
    }
    return make_config(db_url, tmp_path, channels=channels, oncall=ONCALL, console={"roles": ROLES, **console})


@dataclass
class Console:
    h: Harness
    inbox: Inbox
    slack: FakeSlack
    twilio: FakeTwilio

    async def sign_in(self, name: str) -> SignedIn:
        return await sign_in(self.h.client, name, inbox=self.inbox, slack=self.slack, twilio=self.twilio)


Start = Callable[..., AsyncIterator[Console]]


async def start_console(cfg: TocsinConfig, inbox: Inbox, slack: FakeSlack, twilio: FakeTwilio,
                        base_url: str = "http://tocsin.test") -> AsyncIterator[Console]:
    async for h in start_harness(cfg, FakeClock()):
        h.client.base_url = base_url
        yield Console(h, inbox, slack, twilio)


@pytest.fixture
async def console(tmp_path: Path, smtp: tuple[Inbox, int], fake_slack: FakeSlack,
                  fake_twilio: FakeTwilio) -> AsyncIterator[Console]:
    """On SQLite (the PostgreSQL leg is one test of its own)."""
    inbox, port = smtp
    cfg = signin_config(f"sqlite:///{tmp_path / 'tocsin.db'}", tmp_path, port, fake_slack, fake_twilio)
    async for c in start_console(cfg, inbox, fake_slack, fake_twilio):
        yield c


@pytest.fixture(scope="session")
def _fake_oidc_server() -> Iterator[FakeOidc]:
    fake = FakeOidc()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def fake_oidc(_fake_oidc_server: FakeOidc) -> FakeOidc:
    _fake_oidc_server.reset()
    return _fake_oidc_server


@pytest.fixture
async def oidc_console(tmp_path: Path, smtp: tuple[Inbox, int], fake_slack: FakeSlack, fake_twilio: FakeTwilio,
                       fake_oidc: FakeOidc) -> AsyncIterator[Console]:
    """Sign-in with the fake OIDC provider (a confidential client), beside the codes."""
    secret = tmp_path / "oidc-secret"
    secret.write_text(CLIENT_SECRET + "\n")
    inbox, port = smtp
    oidc = {"issuer": fake_oidc.url, "client_id": CLIENT_ID, "client_secret_file": str(secret), "timeout": 5}
    cfg = signin_config(f"sqlite:///{tmp_path / 'tocsin.db'}", tmp_path, port, fake_slack, fake_twilio, oidc=oidc)
    async for c in start_console(cfg, inbox, fake_slack, fake_twilio):
        yield c
