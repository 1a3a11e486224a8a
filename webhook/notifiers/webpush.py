"""Web Push: a page as an encrypted (aes128gcm, RFC 8291) message with a VAPID token (RFC 8292) to every
browser the person subscribed; expired subscriptions (404/410) are deleted."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from py_vapid import Vapid
from pywebpush import WebPusher

from webhook.config import TocsinConfig
from webhook.config.channels import WebPushChannel
from webhook.notifiers.base import (
    Delivered,
    DeliveryResult,
    IncidentState,
    Message,
    Permanent,
    Retryable,
    Severity,
    parse_retry_after,
)
from webhook.notifiers.render import Renderer, truncate
from webhook.push import keys, repo
from webhook.push.tokens import AckSigner
from webhook.store.db import Database

log = logging.getLogger(__name__)

#: What the push service may keep of a VAPID token's life (RFC 8292 allows at most 24 h).
VAPID_LIFETIME = 12 * 3600
#: Push services take about 4 kB of ciphertext; title and body are cut well below.
TITLE_MAX, BODY_MAX = 120, 600
URGENT = frozenset({Severity.CRITICAL, Severity.HIGH})


@dataclass(frozen=True, slots=True)
class _Sent:
    outcome: repo.SendOutcome
    retryable: bool = False
    retry_after: float | None = None


def console_path(incident_id: str | None) -> str:
    return f"/console/#/incidents/{incident_id}" if incident_id else "/console/"


class WebPushNotifier:
    """Sends `Channel.PUSH` targets (address: a responder name) to each of their stored subscriptions.

    Delivered when at least one browser took the message; no subscription at all is a permanent failure
    ("no push subscription"), so the person's next contact rule or the next step still pages them.
    """

    def __init__(self, cfg: WebPushChannel, vapid: Vapid, signer: AckSigner, db: Database, renderer: Renderer,
                 clock: Callable[[], datetime], session: aiohttp.ClientSession | None = None) -> None:
        self._cfg, self._vapid, self._signer, self._db = cfg, vapid, signer, db
        self._renderer, self._clock, self._session = renderer, clock, session

    def payload(self, msg: Message) -> dict[str, Any]:
        """The JSON the service worker shows (sw.js): localised title and body, the incident, the ack token."""
        i = msg.incident
        token = None
        if i is not None and i.state is IncidentState.TRIGGERED:
            token = self._signer.issue(int(i.id), msg.target.address, self._clock())
        worst = i.severity if i is not None else min((v.severity for v in msg.incidents), default=Severity.MEDIUM,
                                                     key=list(Severity).index)
        return {
            "title": truncate(" ".join(self._renderer.text("push_title.txt.j2", msg).split()), TITLE_MAX),
            "body": truncate(" ".join(self._renderer.text("push_body.txt.j2", msg).split()), BODY_MAX),
            "incident": i.id if i is not None else None, "url": console_path(i.id if i else None),
            "severity": worst.value, "ack_token": token, "lang": msg.locale,
        }

    async def notify(self, msg: Message) -> DeliveryResult:
        person = msg.target.address
        subs = await self._db.read(repo.for_person, person)
        if not subs:
            return Permanent(f"no push subscription for {person}: they subscribe a device in the console")
        payload = self.payload(msg)
        urgency = self._cfg.urgency if payload["severity"] in URGENT else "normal"
        topic = f"tocsin-incident-{msg.incident.id}"[:32] if msg.incident is not None else None
        data = json.dumps(payload, separators=(",", ":")).encode()
        sent = await asyncio.gather(*(self._send(s, data, urgency, topic) for s in subs))
        await self._db.write(repo.record, [s.outcome for s in sent], self._clock())
        return _summarise(person, sent)

    async def _send(self, sub: repo.Subscription, data: bytes, urgency: str, topic: str | None) -> _Sent:
        try:
            body = WebPusher({"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}) \
                .encode(data, "aes128gcm")["body"]
        except Exception as exc:  # bad stored keys: this browser cannot be reached, the others still are
            return _Sent(repo.SendOutcome(sub.id, False, error=f"cannot encrypt: {type(exc).__name__}"))
        parts = urlsplit(sub.endpoint)
        # the push service checks `exp` against its own clock: wall time, not the service's (possibly fake) clock
        claims: dict[str, str | int] = {"sub": self._cfg.subject, "aud": f"{parts.scheme}://{parts.netloc}",
                                        "exp": int(time.time()) + VAPID_LIFETIME}
        headers = {**self._vapid.sign(claims), "TTL": str(int(self._cfg.ttl.total_seconds())),
                   "Content-Encoding": "aes128gcm", "Content-Type": "application/octet-stream", "Urgency": urgency}
        if topic:
            headers["Topic"] = topic
        try:
            return await self._post(sub, body, headers)
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = _hide(sub, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            log.warning("web push to %s failed: %s", sub.endpoint_hash, reason)
            return _Sent(repo.SendOutcome(sub.id, False, error=reason), retryable=True)

    async def _post(self, sub: repo.Subscription, body: bytes, headers: dict[str, str]) -> _Sent:
        if self._session is None:
            async with aiohttp.ClientSession() as session:
                return await self._exchange(session, sub, body, headers)
        return await self._exchange(self._session, sub, body, headers)

    async def _exchange(self, session: aiohttp.ClientSession, sub: repo.Subscription, body: bytes,
                        headers: dict[str, str]) -> _Sent:
        async with session.post(sub.endpoint, data=body, headers=headers, allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=self._cfg.timeout)) as resp:
            text = (await resp.text(errors="replace"))[:200]
            status = resp.status
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        if 200 <= status < 300:
            return _Sent(repo.SendOutcome(sub.id, True))
        reason = _hide(sub, f"{status} {text}".strip())
        log.warning("web push to %s answered %s", sub.endpoint_hash, status)
        if status in (404, 410):
            return _Sent(repo.SendOutcome(sub.id, False, gone=True, error=reason))
        return _Sent(repo.SendOutcome(sub.id, False, error=reason), retryable=status == 429 or status >= 500,
                     retry_after=retry_after)


def _hide(sub: repo.Subscription, text: str) -> str:
    """Error texts are logged and stored on the timeline: the endpoint (a capability) becomes its hash."""
    return text.replace(sub.endpoint, f"<endpoint {sub.endpoint_hash}>")


def _summarise(person: str, sent: list[_Sent]) -> DeliveryResult:
    """One result for all of a person's browsers: delivered if any took it, retried if any may yet."""
    ok = sum(1 for s in sent if s.outcome.ok)
    gone = sum(1 for s in sent if s.outcome.gone)
    note = f", {gone} expired subscription(s) removed" if gone else ""
    if ok:
        return Delivered(f"webpush:{ok}/{len(sent)} devices{note}")
    retry = [s for s in sent if s.retryable]
    if retry:
        after = max((s.retry_after for s in retry if s.retry_after is not None), default=None)
        return Retryable(f"push service: {retry[0].outcome.error}{note}", after)
    if gone == len(sent):
        return Permanent(f"no push subscription for {person}: the push service said all {gone} expired "
                         "(404/410), removed")
    failed = next(s.outcome.error for s in sent if not s.outcome.gone)
    return Permanent(f"push refused: {failed}{note}")


def build_webpush(cfg: TocsinConfig, push: WebPushChannel, db: Database, renderer: Renderer,
                  clock: Callable[[], datetime], session: aiohttp.ClientSession | None = None) -> WebPushNotifier:
    """The notifier with its keys resolved (a missing or unreadable key file is a ConfigError at start)."""
    signer = AckSigner(keys.ack_key(cfg, push), push.ack_token_ttl)
    return WebPushNotifier(push, keys.vapid_key(cfg, push), signer, db, renderer, clock, session)
