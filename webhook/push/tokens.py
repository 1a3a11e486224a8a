"""Acknowledge tokens: HMAC-signed, expiring, bound to one incident and one person (the token is the credential)."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from webhook.push.keys import b64url, b64url_decode

#: Longest token accepted (a real one is about 120 characters).
MAX_TOKEN = 512


class BadToken(Exception):
    """Forged, malformed or expired; `reason` is safe to return (it holds no secret)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AckGrant:
    incident_id: int
    person: str
    expires: datetime


@dataclass(frozen=True)
class AckSigner:
    key: bytes = field(repr=False)
    ttl: timedelta

    def _mac(self, body: str) -> str:
        return b64url(hmac.new(self.key, body.encode(), hashlib.sha256).digest())

    def issue(self, incident_id: int, person: str, now: datetime) -> str:
        claims = {"i": incident_id, "p": person, "e": int((now + self.ttl).timestamp())}
        body = b64url(json.dumps(claims, separators=(",", ":")).encode())
        return f"{body}.{self._mac(body)}"

    def verify(self, token: str, now: datetime) -> AckGrant:
        body, dot, mac = token.partition(".")
        if not dot or len(token) > MAX_TOKEN or not hmac.compare_digest(mac.encode(), self._mac(body).encode()):
            raise BadToken("invalid acknowledge token")
        try:
            claims = json.loads(b64url_decode(body))
            grant = AckGrant(int(claims["i"]), str(claims["p"]), datetime.fromtimestamp(int(claims["e"]), now.tzinfo))
        except (ValueError, KeyError, TypeError) as exc:  # signed by us, so only a bug gets here
            raise BadToken("invalid acknowledge token") from exc
        if grant.expires <= now:
            raise BadToken("acknowledge token expired: open the incident in the console")
        return grant
