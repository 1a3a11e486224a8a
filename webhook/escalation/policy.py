"""Pure escalation arithmetic: policy snapshots, step offsets and order, active hours, digests, idempotency keys."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from webhook.config.escalation import Digest, Policy


def idem(*parts: object) -> str:
    """Idempotency key from its parts; long ones (long addresses) are digested to fit the column."""
    key = ":".join(str(p) for p in parts)
    return key if len(key) <= 200 else key[:120] + "#" + hashlib.sha256(key.encode()).hexdigest()


def snapshot(policy: Policy) -> dict[str, Any]:
    """The policy as JSON that validates back into the same Policy (durations in seconds, aliases kept)."""
    out: dict[str, Any] = _jsonable(policy.model_dump(mode="python", by_alias=True, exclude_none=True))
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def defer(policy: Policy, at: datetime) -> datetime:
    """`at`, or the next opening of the policy's active hours when `at` is outside them."""
    windows = policy.active_hours
    if not windows or any(w.contains(at) for w in windows):
        return at
    edges = sorted(e for w in windows for e in w.edges(at, at + timedelta(days=8)))
    return next((e for e in edges if any(w.contains(e) for w in windows)), at)


def firings(policy: Policy) -> list[tuple[int, int]]:
    """One cycle of the chain as (step index, repetition), in the order they fall due."""
    slots = [(i, k) for i, st in enumerate(policy.steps) for k in range(st.repeat + 1)]
    return sorted(slots, key=lambda x: (policy.steps[x[0]].after + x[1] * policy.steps[x[0]].repeat_every, x))


def offset(policy: Policy, step_index: int, cycle: int, rep: int = 0) -> timedelta:
    st = policy.steps[step_index]
    return cycle * policy.repeat_every + st.after + rep * st.repeat_every


def next_position(policy: Policy, step_index: int, cycle: int, rep: int = 0) -> tuple[int, int, int] | None:
    """(step index, cycle, repetition) that falls due after this one, or None at the end of the chain."""
    slots = firings(policy)
    j = slots.index((step_index, rep))
    if j + 1 < len(slots):
        return slots[j + 1][0], cycle, slots[j + 1][1]
    return (0, cycle + 1, 0) if cycle < policy.repeat else None


def next_digest(d: Digest, now: datetime) -> datetime:
    tz = ZoneInfo(d.timezone)
    local = now.astimezone(tz)
    at = datetime.combine(local.date(), d.at, tzinfo=tz)
    if at <= local:
        at = datetime.combine(local.date() + timedelta(days=1), d.at, tzinfo=tz)
    return at.astimezone(UTC)
