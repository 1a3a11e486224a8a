"""A browser vendor's push service on a loopback port, as RFC 8030/8291/8292 describe it (tests/contracts/webpush-*.md).

It makes the subscriptions itself (a P-256 key pair and a 16-byte auth secret each, the endpoint
http://127.0.0.1:PORT/push/<id>), so it holds what a browser holds and can decrypt. On every push it checks the
VAPID header (ES256 signature with the key in `k`, aud = the endpoint's origin, exp within 24 h, sub mailto:/https:),
the TTL header and Content-Encoding aes128gcm, decrypts the body and keeps the plaintext; it can be told to
answer 404/410/429/500 for an endpoint instead.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import http_ece
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.support.procs import free_port

MAX_BODY = 4096  # RFC 8030 7.2: push services must accept 4096 octets at least, may refuse more (413)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class FakeSubscription:
    id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    auth: bytes = field(repr=False)

    @property
    def p256dh(self) -> str:
        return b64url(self.private_key.public_key().public_bytes(serialization.Encoding.X962,
                                                                 serialization.PublicFormat.UncompressedPoint))

    def to_json(self) -> dict[str, Any]:
        """What `PushSubscription.toJSON()` gives a page."""
        return {"endpoint": self.endpoint, "expirationTime": None,
                "keys": {"p256dh": self.p256dh, "auth": b64url(self.auth)}}


@dataclass
class Pushed:
    """One accepted push: its subscription, the decrypted JSON, the headers and the VAPID claims."""

    subscription: str
    payload: dict[str, Any]
    headers: dict[str, str]
    claims: dict[str, Any]


class VapidError(Exception):
    pass


def verify_vapid(header: str, audience: str, now: float) -> dict[str, Any]:
    """RFC 8292: `vapid t=<JWT>, k=<uncompressed P-256 point>`; returns the claims or raises VapidError."""
    scheme, _, params = header.partition(" ")
    if scheme.lower() != "vapid":
        raise VapidError("Authorization scheme is not vapid")
    parts = dict(p.strip().split("=", 1) for p in params.split(",") if "=" in p)
    if "t" not in parts or "k" not in parts:
        raise VapidError("vapid needs t= and k=")
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(parts["k"]))
        head_b64, claims_b64, sig_b64 = parts["t"].split(".")
        head, claims, sig = json.loads(unb64url(head_b64)), json.loads(unb64url(claims_b64)), unb64url(sig_b64)
    except ValueError as exc:
        raise VapidError(f"malformed token: {exc}") from exc
    if head.get("alg") != "ES256" or len(sig) != 64:
        raise VapidError("token is not ES256")
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        key.verify(der, f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise VapidError("bad signature") from exc
    if claims.get("aud") != audience:
        raise VapidError(f"aud {claims.get('aud')!r} is not {audience!r}")
    exp = claims.get("exp")
    if not isinstance(exp, int) or not now < exp <= now + 24 * 3600:
        raise VapidError("exp must lie within the next 24 hours")
    if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
        raise VapidError("sub must be a mailto: or https: URL")
    return dict(claims)


class FakePushService:
    """Start with `await service.start()`; `subscribe()` makes a subscription; `pushed` holds what arrived."""

    def __init__(self) -> None:
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.subscriptions: dict[str, FakeSubscription] = {}
        self.pushed: list[Pushed] = []
        self.refused: list[tuple[str, int, str]] = []  # (subscription, status, why)
        self._answers: dict[str, deque[int]] = {}
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_post("/push/{sid}", self._push)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def subscribe(self) -> FakeSubscription:
        sid = secrets.token_urlsafe(12)
        sub = FakeSubscription(sid, f"{self.origin}/push/{sid}", ec.generate_private_key(ec.SECP256R1()),
                               os.urandom(16))
        self.subscriptions[sid] = sub
        return sub

    def answer(self, sub: FakeSubscription, *statuses: int) -> None:
        """The next pushes to `sub` get these statuses (one each) instead of being accepted."""
        self._answers.setdefault(sub.id, deque()).extend(statuses)

    async def wait_for(self, count: int, within: float = 10.0) -> list[Pushed]:
        """Until `count` pushes were accepted; fails clearly after `within` seconds."""
        try:
            async with asyncio.timeout(within), self._arrived:
                await self._arrived.wait_for(lambda: len(self.pushed) >= count)
        except TimeoutError:
            raise AssertionError(f"{len(self.pushed)} pushes arrived, not {count} (refused: {self.refused})") from None
        return self.pushed

    async def _push(self, request: web.Request) -> web.Response:
        sid = request.match_info["sid"]
        sub = self.subscriptions.get(sid)
        if sub is None:
            return self._refuse(sid, 404, "no such subscription")
        planned = self._answers.get(sid)
        if planned:
            status = planned.popleft()
            headers = {"Retry-After": "1"} if status == 429 else {}
            self.refused.append((sid, status, "told to"))
            if status == 410:
                del self.subscriptions[sid]
            return web.Response(status=status, text=f"fake push service answers {status}", headers=headers)
        if not request.headers.get("Authorization", "").lower().startswith("vapid "):
            return self._refuse(sid, 401, "no vapid Authorization")  # RFC 8292 4.1
        try:
            claims = verify_vapid(request.headers["Authorization"], self.origin, time.time())
        except VapidError as exc:
            return self._refuse(sid, 403, str(exc))
        if not request.headers.get("TTL", "").isdigit():
            return self._refuse(sid, 400, "TTL header missing")
        if request.headers.get("Content-Encoding") != "aes128gcm":
            return self._refuse(sid, 400, "Content-Encoding must be aes128gcm")
        body = await request.read()
        if len(body) > MAX_BODY:
            return self._refuse(sid, 413, "payload too large")
        try:
            plain = http_ece.decrypt(body, private_key=sub.private_key, auth_secret=sub.auth, version="aes128gcm")
            payload = json.loads(plain)
        except Exception as exc:  # what a browser would do: drop the message
            return self._refuse(sid, 400, f"cannot decrypt: {type(exc).__name__}")
        async with self._arrived:
            self.pushed.append(Pushed(sid, payload, dict(request.headers), claims))
            self._arrived.notify_all()
        return web.Response(status=201, headers={"Location": f"{self.origin}/message/{secrets.token_hex(8)}"})

    def _refuse(self, sid: str, status: int, why: str) -> web.Response:
        self.refused.append((sid, status, why))
        return web.Response(status=status, text=why)
