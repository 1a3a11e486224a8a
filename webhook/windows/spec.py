"""What a new window is made of, checked once for the API and the CLI alike: every refusal names the matcher or
field and says why (a maintenance window that silently covers the wrong alerts is a silent outage)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from remediator.matching import Matcher, Op, parse_matcher
from webhook.config.oncall import DAYS, TimeWindow
from webhook.config.types import parse_duration

#: The longest one-off window: longer maintenance is a recurring window or a config change, not a silence.
MAX_ONE_OFF = timedelta(days=30)
#: Matchers per window, and the length of a comment.
MAX_MATCHERS = 20
MAX_COMMENT = 2000


class SpecError(ValueError):
    """A window that cannot be created; the message says which part and why."""


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """A checked new window (see model.Window for the meaning of the fields)."""

    matchers: tuple[Matcher, ...]
    starts_at: datetime | None
    ends_at: datetime | None
    recurrence: TimeWindow | None
    comment: str


def parse_matchers(texts: Sequence[str]) -> tuple[Matcher, ...]:
    """Alertmanager matchers; at least one, and at least one that does not match every alert (as Alertmanager
    refuses silences whose matchers all match the empty string)."""
    if not texts:
        raise SpecError("matchers: give at least one, e.g. alertname=\"DiskFull\"")
    if len(texts) > MAX_MATCHERS:
        raise SpecError(f"matchers: at most {MAX_MATCHERS}")
    out = []
    for text in texts:
        try:
            out.append(parse_matcher(text))
        except ValueError as exc:
            raise SpecError(f"matcher {text!r}: {exc}") from exc
    if all(m.matches({}) for m in out):
        raise SpecError("matchers: every one of them also matches alerts without the label (e.g. name=\"\" or "
                        "name=~\".*\"), so the window would cover every alert; add one that needs a value")
    return tuple(out)


def parse_recurrence(raw: Mapping[str, Any]) -> TimeWindow:
    """{days, from, to, timezone}: days like ["sun"] or "sat,sun"; times HH:MM; `to` before `from` spans midnight."""
    data = dict(raw)
    days = data.get("days", list(DAYS))
    if isinstance(days, str):
        days = [d.strip().lower()[:3] for d in days.split(",") if d.strip()]
    else:
        days = [str(d).strip().lower()[:3] for d in days]
    unknown = [d for d in days if d not in DAYS]
    if unknown or not days:
        raise SpecError(f"recurrence.days: {unknown or 'none'} not among {', '.join(DAYS)}")
    data["days"] = days
    for key in ("from", "to"):
        if key not in data:
            raise SpecError(f"recurrence.{key}: missing (a local time like 02:00)")
    try:
        return TimeWindow.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "recurrence"
        raise SpecError(f"recurrence.{where}: {err['msg'].removeprefix('Value error, ')}") from exc


def parse_length(text: str) -> timedelta:
    try:
        delta = parse_duration(text)
    except ValueError as exc:
        raise SpecError(f"duration {text!r}: {exc}") from exc
    if delta <= timedelta(0):
        raise SpecError(f"duration {text!r}: must be positive")
    return delta


def build(matchers: Sequence[str], now: datetime, *, starts_at: datetime | None = None,
          ends_at: datetime | None = None, duration: str | None = None,
          recurrence: Mapping[str, Any] | None = None, comment: str = "") -> WindowSpec:
    """Check a new window: one-off (starts_at, default now, and ends_at or duration) or recurring (optional
    starts_at/ends_at bounds). Times must carry a zone."""
    parsed = parse_matchers(matchers)
    for name, t in (("starts_at", starts_at), ("ends_at", ends_at)):
        if t is not None and t.tzinfo is None:
            raise SpecError(f"{name}: give a time zone, e.g. 2026-12-06T02:00:00Z")
    if len(comment) > MAX_COMMENT:
        raise SpecError(f"comment: at most {MAX_COMMENT} characters")
    if duration is not None:
        if ends_at is not None:
            raise SpecError("give ends_at or duration, not both")
        ends_at = (starts_at or now) + parse_length(duration)
    rec = parse_recurrence(recurrence) if recurrence is not None else None
    if rec is None:
        if ends_at is None:
            raise SpecError("give ends_at or duration (or a recurrence)")
        starts_at = starts_at or now
        if ends_at <= starts_at:
            raise SpecError(f"ends_at {ends_at.isoformat()} is not after starts_at {starts_at.isoformat()}")
        if ends_at - starts_at > MAX_ONE_OFF:
            raise SpecError(f"a one-off window lasts at most {MAX_ONE_OFF.days} days (use a recurrence for "
                            "regular maintenance)")
        if ends_at <= now:
            raise SpecError(f"ends_at {ends_at.isoformat()} is in the past")
    elif starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise SpecError(f"ends_at {ends_at.isoformat()} is not after starts_at {starts_at.isoformat()}")
    return WindowSpec(parsed, starts_at, ends_at, rec, comment.strip())


def key_matchers(key_labels: Mapping[str, Any]) -> list[str]:
    """Equality matchers for an incident's key labels ("acknowledge and silence"): the window covers that
    incident and later incidents of the same key, nothing else. Empty values are left out (they match all)."""
    return [str(Matcher(k, Op.EQ, str(v))) for k, v in sorted(key_labels.items()) if str(v)]
