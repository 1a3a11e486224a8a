"""The `console:` section: sign-in of responders (one-time codes, optional OIDC), sessions and roles."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, model_validator

from webhook.config.oncall import OnCallConfig
from webhook.config.types import Duration, Strict

#: Permissions a signed-in person has by role; read, respond and remediate every signed-in person has.
RolePermission = Literal["approve", "windows", "schedules"]
SignInChannel = Literal["email", "slack", "sms"]
DEFAULT_CHANNELS: tuple[SignInChannel, ...] = ("email", "slack", "sms")


class SignInConfig(Strict):
    """One-time codes sent through the person's own channel (docs/console.md, "Sign-in and roles")."""

    #: How long a sign-in code is valid after it was sent.
    code_ttl: Duration = timedelta(minutes=10)
    #: Digits of a sign-in code.
    code_length: int = Field(6, ge=6, le=10)
    #: Wrong guesses allowed per code; the last one voids it (429) and a new code must be requested.
    max_attempts: int = Field(5, ge=1, le=20)
    #: Channels tried in this order; the code goes through the first one the responder has an address for and
    #: Tocsin has configured (channels.email, channels.slack, channels.twilio).
    channels: list[SignInChannel] = Field(default_factory=lambda: list(DEFAULT_CHANNELS), min_length=1)

    @model_validator(mode="after")
    def _ttl_bounds(self) -> Self:
        if not timedelta(minutes=1) <= self.code_ttl <= timedelta(hours=1):
            raise ValueError("code_ttl must be between 1m and 1h")
        if len(set(self.channels)) != len(self.channels):
            raise ValueError("channels: each channel at most once")
        return self


class OidcConfig(Strict):
    """Sign-in with an OpenID Connect provider (authorization code flow with PKCE)."""

    #: The provider's issuer URL; its /.well-known/openid-configuration is read at the first sign-in.
    issuer: str = Field(pattern=r"^https?://")
    #: The client id registered at the provider (the ID token's audience).
    client_id: str = Field(min_length=1)
    #: File holding the client secret (read at start); none: a public client (PKCE only).
    client_secret_file: Path | None = None
    #: Scopes requested; `openid` must be among them.
    scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])
    #: The ID token claim that names the person: `email` is matched to oncall.responders[].email (case-insensitive),
    #: `preferred_username` (or any other claim) to oncall.responders[].name.
    match_claim: str = Field("email", min_length=1)
    #: Where the provider sends the browser back (register it there); default: this request's origin +
    #: /auth/oidc/callback (server.public_url's origin when that is set).
    redirect_url: str | None = Field(None, pattern=r"^https?://")
    #: Longest wait for the provider's discovery, token and key endpoints.
    timeout: float = Field(10.0, gt=0, le=60)

    @model_validator(mode="after")
    def _openid_scope(self) -> Self:
        if "openid" not in self.scopes:
            raise ValueError("scopes must include openid")
        return self


class ConsoleConfig(Strict):
    """Who signs in to the console and what they may do there."""

    sign_in: SignInConfig = SignInConfig()
    #: A console session ends this long after sign-in (absolute, not extended by use).
    session_ttl: Duration = timedelta(hours=12)
    #: The session cookie's Secure flag: auto = when the request came over https (uvicorn's --proxy-headers
    #: decides that behind a proxy), always, or never.
    secure_cookies: Literal["auto", "always", "never"] = "auto"
    #: permission -> responders (`alice`) or teams (`team:sre`, its members and lead) that have it:
    #: approve (runbook steps; remediation.approvals still applies on top), windows (create and end maintenance
    #: windows), schedules (overrides and swaps). Every signed-in person may read, respond and remediate.
    roles: dict[RolePermission, list[str]] = {}
    #: Optional sign-in with an OpenID Connect provider, beside the one-time codes.
    oidc: OidcConfig | None = None
    #: Live board (GET /api/v1/stream): how often each replica reads the change feed (incident timeline ids) from
    #: the database; between 50ms and 1m.
    stream_poll: Duration = Field(timedelta(seconds=1), ge=timedelta(milliseconds=50), le=timedelta(minutes=1))
    #: Live board: a stream without a change for this long gets `event: ping` (proxies keep it open).
    stream_heartbeat: Duration = Field(timedelta(seconds=15), ge=timedelta(milliseconds=50), le=timedelta(minutes=5))
    #: Live board: most streams open at once in one process; one more gets 503 (the page retries).
    stream_limit: int = Field(200, ge=1, le=10_000)
    #: Live board: changes waiting for one stream; a client further behind gets `event: reset` and is dropped.
    stream_queue: int = Field(500, ge=10, le=100_000)
    #: Live board: a reconnect (Last-Event-ID) replays at most this many changed incidents, else `event: reset`.
    stream_resume_limit: int = Field(500, ge=1, le=5000)

    @model_validator(mode="after")
    def _ttl_bounds(self) -> Self:
        if not timedelta(minutes=5) <= self.session_ttl <= timedelta(days=30):
            raise ValueError("session_ttl must be between 5m and 30d")
        return self

    def permissions(self, person: str, oncall: OnCallConfig) -> frozenset[str]:
        """Everything `person` may do in the console."""
        teams = {t.name for t in oncall.teams if person in t.members or person == t.lead}
        granted = {perm for perm, who in self.roles.items()
                   if person in who or any(w.startswith("team:") and w[5:] in teams for w in who)}
        return frozenset({"read", "respond", "remediate", *granted})

    def unknown(self, oncall: OnCallConfig) -> list[str]:
        """Role entries naming responders or teams the on-call config does not define."""
        people, teams = {r.name for r in oncall.responders}, {t.name for t in oncall.teams}
        out = []
        for perm, who in self.roles.items():
            for w in who:
                if w.startswith("team:") and w[5:] not in teams:
                    out.append(f"console.roles.{perm}: unknown team {w[5:]!r}")
                elif not w.startswith("team:") and w not in people:
                    out.append(f"console.roles.{perm}: unknown responder {w!r}")
        return out
