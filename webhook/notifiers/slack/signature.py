"""Slack request signatures (v0 HMAC-SHA256 over timestamp and body, within a time window)."""

from __future__ import annotations

import hashlib
import hmac

from pydantic import SecretStr

from webhook.notifiers.base import SignatureError

SLACK_TOLERANCE_SECONDS = 300


def slack_signature(signing_secret: SecretStr, timestamp: str, body: bytes) -> str:
    """The `X-Slack-Signature` value Slack computes for this request."""
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    digest = hmac.new(signing_secret.get_secret_value().encode(), base, hashlib.sha256).hexdigest()
    return f"v0={digest}"


def verify_slack_signature(
    signing_secret: SecretStr,
    timestamp: str | None,
    body: bytes,
    signature: str | None,
    now: float,
    tolerance: int = SLACK_TOLERANCE_SECONDS,
) -> None:
    """Raise SignatureError unless `signature` is Slack's v0 HMAC of the body, made within `tolerance` s."""
    if not timestamp or not signature:
        raise SignatureError("missing X-Slack-Request-Timestamp or X-Slack-Signature")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureError("malformed X-Slack-Request-Timestamp")
    # A replayed request is signed correctly: only its age gives it away.
    if abs(now - int(timestamp)) > tolerance:
        raise SignatureError("X-Slack-Request-Timestamp outside the allowed window")
    if not signature.startswith("v0=") or not signature.isascii():
        raise SignatureError("malformed X-Slack-Signature")
    expected = slack_signature(signing_secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignatureError("X-Slack-Signature does not match")
