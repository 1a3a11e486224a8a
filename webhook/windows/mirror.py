"""Maintenance windows mirrored into Alertmanager as silences (API v2), by the leader (docs/windows.md).

The window is Tocsin's truth: a window is created whether or not Alertmanager answers, and this singleton makes
Alertmanager agree afterwards: a silence for the window (for a recurring window: its current or next occurrence,
then the next one when that silence ends), expired when the window ends. Failures are retried on the next run
(`pending`); a silence Alertmanager refuses (4xx) is `failed` and not retried: the error says why.

Tocsin does not lose the resolve of a silenced alert: reconcile lists silenced alerts too (`silenced=true`), so
one that stays silenced is not "gone", and one that resolves while silenced (Alertmanager then sends no resolve)
disappears from the listing and is closed by reconcile (docs/reconcile.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from remediator.matching import Matcher, Op
from webhook.config import TocsinConfig
from webhook.store.db import Database
from webhook.windows import repo
from webhook.windows.model import LOOKAHEAD, Window

log = logging.getLogger("tocsin.windows.mirror")

#: How often the leader looks (a new window is mirrored within this, a failed call retried after it).
EVERY = timedelta(seconds=10)


class MirrorError(Exception):
    """Alertmanager did not do it; `permanent`: it refused (4xx), retrying the same request will not help."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def am_matcher(m: Matcher) -> dict[str, Any]:
    """A matcher in Alertmanager's API v2 form, regex and negative ones included."""
    return {"name": m.name, "value": m.value, "isRegex": m.op in (Op.RE, Op.NRE), "isEqual": m.op in (Op.EQ, Op.RE)}


def occurrence(w: Window, now: datetime) -> tuple[datetime, datetime] | None:
    """The stretch a silence should cover now: the current one, else the next within LOOKAHEAD; None when the
    window is over or nothing starts soon."""
    if w.over(now):
        return None
    if w.active(now):
        return now, w.active_until(now)
    starts = set(w.recurrence.edges(now, now + LOOKAHEAD)) if w.recurrence is not None else set()
    if w.starts_at is not None and w.starts_at > now:
        starts.add(w.starts_at)
    for t in sorted(starts):
        if w.active(t):
            return t, w.active_until(t)
    return None


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Outcome:
    state: str
    error: str | None
    silence_id: str | None
    until: datetime | None


class AlertmanagerSilences:
    """POST /api/v2/silences and DELETE /api/v2/silence/{id} on the first Alertmanager that answers (a cluster
    gossips silences to its peers). `transport` is the seam tests swap."""

    def __init__(self, cfg: TocsinConfig, transport: httpx.AsyncBaseTransport | None = None) -> None:
        rc = cfg.reconcile
        self.bases = cfg.windows.alertmanager_silences.targets(rc)
        self.created_by = cfg.windows.alertmanager_silences.created_by
        self._rc = rc
        self._client = httpx.AsyncClient(transport=transport, timeout=rc.timeout.total_seconds(),
                                         verify=str(rc.ca_file) if rc.ca_file else True)

    async def close(self) -> None:
        await self._client.aclose()

    def _auth(self) -> dict[str, Any]:
        rc = self._rc
        try:
            if rc.bearer_token_file is not None:
                return {"headers": {"Authorization": f"Bearer {rc.bearer_token_file.read_text().strip()}"}}
            if rc.basic_auth is not None:
                return {"auth": (rc.basic_auth.username, rc.basic_auth.password_file.read_text().strip())}
        except OSError as exc:
            raise MirrorError(f"cannot read the Alertmanager API credentials: {exc}") from exc
        return {}

    async def _call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        errors = []
        for base in self.bases:
            url = base.rstrip("/") + path
            try:
                r = await self._client.request(method, url, json=body, **self._auth())
            except httpx.HTTPError as exc:
                errors.append(f"{url}: {type(exc).__name__}: {exc}")
                continue
            if r.status_code < 500:
                return r
            errors.append(f"{url}: HTTP {r.status_code} {r.text[:200]}")
        raise MirrorError("; ".join(errors) or "no Alertmanager configured")

    async def create(self, w: Window, start: datetime, end: datetime) -> str:
        comment = f"Tocsin maintenance window #{w.id} by {w.created_by}" + (f": {w.comment}" if w.comment else "")
        body = {"matchers": [am_matcher(m) for m in w.matchers], "startsAt": _iso(start), "endsAt": _iso(end),
                "createdBy": self.created_by, "comment": comment[:1000]}
        r = await self._call("POST", "/api/v2/silences", body)
        if r.status_code != 200:
            raise MirrorError(f"Alertmanager refused the silence: HTTP {r.status_code} {r.text[:300]}", permanent=True)
        try:
            return str(r.json()["silenceID"])
        except (ValueError, KeyError, TypeError) as exc:
            raise MirrorError(f"unexpected answer to POST /api/v2/silences: {r.text[:200]}") from exc

    async def expire(self, silence_id: str) -> None:
        r = await self._call("DELETE", f"/api/v2/silence/{silence_id}")
        if r.status_code not in (200, 404):  # 404: expired or gone already (a restart without data)
            raise MirrorError(f"Alertmanager did not expire silence {silence_id}: HTTP {r.status_code} "
                              f"{r.text[:200]}", permanent=r.status_code < 500)


async def sync_window(am: AlertmanagerSilences, w: Window, now: datetime) -> Outcome | None:
    """What to change for one window (None: nothing to do): create, roll on, or expire its silence."""
    live = w.alertmanager_silence_id is not None and w.mirror_until is not None and w.mirror_until > now
    wanted = occurrence(w, now)
    try:
        if wanted is None:
            if not live:
                return None
            assert w.alertmanager_silence_id is not None
            await am.expire(w.alertmanager_silence_id)
            return Outcome("ok", None, w.alertmanager_silence_id, now)
        if live or w.mirror_state == "failed":
            return None
        sid = await am.create(w, max(wanted[0], now), wanted[1])
        return Outcome("ok", None, sid, wanted[1])
    except MirrorError as exc:
        log.warning("window #%d: Alertmanager silence not mirrored: %s", w.id, exc)
        return Outcome("failed" if exc.permanent else "pending", str(exc), w.alertmanager_silence_id, w.mirror_until)


class SilenceMirror:
    """A ticker singleton (Service.singletons, leader only): `tick(now)` at most every EVERY, `sync(now)` now."""

    def __init__(self, cfg: TocsinConfig, db: Database, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.cfg, self.db, self._transport = cfg, db, transport
        self._next: datetime | None = None

    async def tick(self, now: datetime | None = None) -> int:
        if now is None or (self._next is not None and now < self._next):
            return 0
        self._next = now + EVERY
        return await self.sync(now)

    async def sync(self, now: datetime) -> int:
        """Mirror every window that needs it; the number of windows whose mirror changed."""
        windows = await self.db.read(repo.mirror_todo, now)
        if not windows:
            return 0
        am = AlertmanagerSilences(self.cfg, self._transport)
        changed = 0
        try:
            for w in windows:
                out = await sync_window(am, w, now)
                if out is not None and (out.state, out.error, out.silence_id, out.until) != (
                        w.mirror_state, w.mirror_error, w.alertmanager_silence_id, w.mirror_until):
                    await self.db.write(repo.set_mirror, w.id, out.state, out.error, out.silence_id, out.until)
                    changed += 1
        finally:
            await am.close()
        return changed
