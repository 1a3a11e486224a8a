"""The service's clock: a callable returning an aware UTC datetime, injected wherever time is read."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_at(text: str | None) -> datetime:
    """The CLI's `--at`: an ISO time with a zone, or now when not given (exits with a message without a zone)."""
    if not text:
        return utcnow()
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if at.tzinfo is None:
        raise SystemExit(f"--at {text!r}: give a time zone, e.g. 2026-11-28T03:00:00Z")
    return at
