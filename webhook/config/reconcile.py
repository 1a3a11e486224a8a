"""Reconcile with Alertmanager (docs/reconcile.md): which Alertmanagers the leader polls, and how."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Self

from pydantic import Field, model_validator

from webhook.config.types import Duration, Strict

Url = Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?$")]


class ReconcileBasicAuth(Strict):
    """HTTP basic auth in front of Alertmanager's API (a reverse proxy; Alertmanager's own web.config)."""

    username: str = Field(min_length=1)
    #: A file holding the password (read at every poll, stripped), e.g. a Kubernetes secret.
    password_file: Path


class ReconcileConfig(Strict):
    #: Base URLs of every Alertmanager of the HA pair (cluster), e.g. http://alertmanager-0:9093. Empty: off.
    alertmanagers: list[Url] = []
    #: Only alerts Alertmanager routes to one of these receivers count (the receivers posting to Tocsin).
    receivers: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=lambda: ["tocsin"], min_length=1)
    #: How often the leader polls; an alert gone in two consecutive complete polls is closed, so within 2x this.
    interval: Duration = timedelta(minutes=1)
    #: Per request to one Alertmanager; a poll where one Alertmanager does not answer in time decides nothing.
    timeout: Duration = timedelta(seconds=10)
    #: A file holding a bearer token for Alertmanager's API (read at every poll, stripped).
    bearer_token_file: Path | None = None
    basic_auth: ReconcileBasicAuth | None = None
    #: CA bundle for https Alertmanagers (default: the system's).
    ca_file: Path | None = None

    @model_validator(mode="after")
    def _checks(self) -> Self:
        if self.bearer_token_file is not None and self.basic_auth is not None:
            raise ValueError("give at most one of bearer_token_file and basic_auth")
        if self.interval < timedelta(seconds=1):
            raise ValueError("interval must be at least 1s")
        if not timedelta(0) < self.timeout <= self.interval:
            raise ValueError("timeout must be positive and at most interval")
        if len(set(self.alertmanagers)) != len(self.alertmanagers):
            raise ValueError("alertmanagers lists a URL twice")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.alertmanagers)
