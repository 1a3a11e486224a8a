"""Alertmanager's API v2, the one HTTP seam of reconcile: the alerts routed to Tocsin, and silences."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any, Self

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from webhook.config.reconcile import ReconcileConfig
from webhook.reconcile.decide import AlertState, Listed

#: The seam tests swap (httpx.MockTransport), so the worker needs no httpx of its own.
Transport = httpx.AsyncBaseTransport
#: Alertmanager's zero time (endsAt of an alert without an end)
_ZERO = datetime(1, 1, 1, tzinfo=UTC)


class AlertmanagerUnavailable(Exception):
    """One Alertmanager did not answer usably (connection, timeout, status, body); the message names it."""


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Receiver(_Lenient):
    name: str


class _Status(_Lenient):
    state: AlertState
    silencedBy: list[str] = []
    inhibitedBy: list[str] = []


class _Alert(_Lenient):
    fingerprint: str = Field(min_length=1, max_length=64)
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str = ""
    receivers: list[_Receiver] = []
    status: _Status


class _Silence(_Lenient):
    id: str
    comment: str = ""
    createdBy: str = ""
    endsAt: datetime | None = None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class AlertmanagerAPI:
    """GET /api/v2/alerts (active, silenced and inhibited) and /api/v2/silence/{id} of every configured
    Alertmanager. `transport` is for tests; auth files are read at every poll (rotated secrets)."""

    def __init__(self, cfg: ReconcileConfig, transport: Transport | None = None) -> None:
        self.cfg = cfg
        self._receivers = frozenset(cfg.receivers)
        #: one client per poll (`async with`): nothing stays open between polls, nothing to close at exit
        self._client = httpx.AsyncClient(transport=transport, timeout=cfg.timeout.total_seconds(),
                                         verify=str(cfg.ca_file) if cfg.ca_file else True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    def _auth(self) -> dict[str, Any]:
        c = self.cfg
        try:
            if c.bearer_token_file is not None:
                return {"headers": {"Authorization": f"Bearer {c.bearer_token_file.read_text().strip()}"}}
            if c.basic_auth is not None:
                return {"auth": (c.basic_auth.username, c.basic_auth.password_file.read_text().strip())}
        except OSError as exc:
            raise AlertmanagerUnavailable(f"cannot read the Alertmanager API credentials: {exc}") from exc
        return {}

    async def _get(self, url: str, params: dict[str, str] | None = None) -> httpx.Response:
        try:
            r = await self._client.get(url, params=params, **self._auth())
        except httpx.HTTPError as exc:
            raise AlertmanagerUnavailable(f"{url}: {type(exc).__name__}: {exc}") from exc
        return r

    async def alerts(self, base: str) -> list[Listed]:
        """The alerts one Alertmanager routes to one of Tocsin's receivers (resolved ones it never lists)."""
        url = base.rstrip("/") + "/api/v2/alerts"
        params = {"active": "true", "silenced": "true", "inhibited": "true", "unprocessed": "true",
                  "receiver": "|".join(re.escape(r) for r in sorted(self._receivers))}
        r = await self._get(url, params)
        if r.status_code != 200:
            raise AlertmanagerUnavailable(f"{url}: HTTP {r.status_code}")
        try:
            body = r.json()
            if not isinstance(body, list):
                raise TypeError("not a list")
            parsed = [_Alert.model_validate(a) for a in body]
        except (ValueError, TypeError, ValidationError) as exc:
            raise AlertmanagerUnavailable(f"{url}: unexpected body: {str(exc)[:300]}") from exc
        return [self._listed(a) for a in parsed if self._receivers & {x.name for x in a.receivers}]

    @staticmethod
    def _listed(a: _Alert) -> Listed:
        ends = _utc(a.endsAt) if a.endsAt is not None else None
        return Listed(a.fingerprint, _utc(a.startsAt), a.status.state, tuple(sorted(a.status.silencedBy)),
                      tuple(sorted(a.status.inhibitedBy)), a.labels, a.annotations,
                      ends if ends is not None and ends > _ZERO else None, a.generatorURL)

    async def poll(self) -> list[list[Listed]]:
        """Every configured Alertmanager's listing; raises AlertmanagerUnavailable if any one fails."""
        got = await asyncio.gather(*(self.alerts(b) for b in self.cfg.alertmanagers), return_exceptions=True)
        failed = [g for g in got if isinstance(g, BaseException)]
        for g in failed:
            if not isinstance(g, AlertmanagerUnavailable):
                raise g
        if failed:
            raise AlertmanagerUnavailable("; ".join(str(f) for f in failed))
        return [g for g in got if not isinstance(g, BaseException)]

    async def silence(self, silence_id: str) -> dict[str, Any]:
        """{id, comment, created_by, ends_at} from the first Alertmanager that has it; only the id if none does."""
        for base in self.cfg.alertmanagers:
            try:
                r = await self._get(base.rstrip("/") + f"/api/v2/silence/{silence_id}")
                if r.status_code == 200:
                    s = _Silence.model_validate(r.json())
                    return {"id": s.id, "comment": s.comment, "created_by": s.createdBy,
                            "ends_at": _utc(s.endsAt).isoformat() if s.endsAt else None}
            except (AlertmanagerUnavailable, ValueError, ValidationError):
                continue
        return {"id": silence_id, "comment": None, "created_by": None, "ends_at": None}
