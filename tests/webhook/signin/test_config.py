"""The `console:` section: roles by name and team, checked against the on-call config at load."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tests.webhook.signin.conftest import ONCALL
from webhook.config import TocsinConfig
from webhook.config.console import ConsoleConfig


def config(**console: Any) -> TocsinConfig:
    return TocsinConfig(oncall=ONCALL, console=console)


def test_permissions_come_from_names_and_teams_members_and_leads() -> None:
    cfg = config(roles={"approve": ["alice"], "windows": ["team:sre"]})
    perms = {r["name"]: sorted(cfg.console.permissions(r["name"], cfg.oncall)) for r in ONCALL["responders"]}
    base = ["read", "remediate", "respond"]
    assert perms == {"alice": ["approve", *base], "bob": [*base, "windows"], "carol": [*base, "windows"],
                     "dave": base}


@pytest.mark.parametrize(("console", "needle"), [
    ({"roles": {"approve": ["mallory"]}}, "console.roles.approve: unknown responder 'mallory'"),
    ({"roles": {"windows": ["team:nope"]}}, "console.roles.windows: unknown team 'nope'"),
    ({"roles": {"admin": ["alice"]}}, "approve"),
    ({"sign_in": {"code_length": 4}}, "greater than or equal to 6"),
    ({"sign_in": {"code_ttl": "2h"}}, "code_ttl must be between"),
    ({"sign_in": {"channels": ["email", "email"]}}, "each channel at most once"),
    ({"sign_in": {"channels": ["voice"]}}, "'email', 'slack' or 'sms'"),
    ({"session_ttl": "1m"}, "session_ttl must be between"),
    ({"secure_cookies": "sometimes"}, "'auto', 'always' or 'never'"),
    ({"oidc": {"issuer": "https://sso.example.com", "client_id": "t", "scopes": ["email"]}}, "include openid"),
    ({"oidc": {"issuer": "sso.example.com", "client_id": "t"}}, "should match pattern"),
    ({"roles": {"approve": ["alice"]}, "extra": 1}, "Extra inputs are not permitted"),
])
def test_bad_console_settings_are_refused_at_load(console: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        config(**console)


def test_defaults() -> None:
    c = ConsoleConfig()
    assert (c.sign_in.code_length, c.sign_in.max_attempts, c.sign_in.channels) == (6, 5, ["email", "slack", "sms"])
    assert c.session_ttl.total_seconds() == 12 * 3600 and c.secure_cookies == "auto" and c.oidc is None
