"""A maintenance window as a value: when it is active, whom it covers, and when its cover of some labels ends.

Pure (no database): the escalation timer, remediation, the API and `tocsin route test` all ask the same
questions, and the answers must not differ between them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from remediator.matching import Matcher, matches_all, parse_matcher
from webhook.config.oncall import TimeWindow

#: How far ahead a recurring window's end is looked for: a slot covering the whole week ends nowhere inside
#: this span, and the hold is then re-evaluated when it runs out (it never holds for ever).
LOOKAHEAD = timedelta(days=8)
#: Windows chained end to end (or overlapping) are followed this many times when computing a hold's end.
MAX_CHAIN = 64


@dataclass(frozen=True, slots=True)
class Window:
    """One row of `maintenance_windows`. One-off: [starts_at, ends_at). Recurring: inside a weekly slot of
    `recurrence`, and between the optional starts_at/ends_at bounds. Ended early by `ended_at` ("end now")."""

    id: int
    comment: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime | None
    ends_at: datetime | None
    recurrence: TimeWindow | None
    created_by: str
    created_at: datetime
    ended_at: datetime | None = None
    ended_by: str | None = None
    incident_id: int | None = None
    alertmanager_silence_id: str | None = None
    #: The Alertmanager silence mirror (docs/windows.md): ok | pending | failed, None when not mirrored.
    mirror_state: str | None = None
    mirror_error: str | None = None
    #: End of the live silence in Alertmanager (the current occurrence's, for a recurring window).
    mirror_until: datetime | None = None

    def covers(self, labels: Mapping[str, str]) -> bool:
        return matches_all(list(self.matchers), labels)

    def active(self, at: datetime) -> bool:
        if self.ended_at is not None and at >= self.ended_at:
            return False
        if self.starts_at is not None and at < self.starts_at:
            return False
        if self.ends_at is not None and at >= self.ends_at:
            return False
        return self.recurrence is None or self.recurrence.contains(at)

    def over(self, at: datetime) -> bool:
        """True when the window can never be active again at or after `at`."""
        return (self.ended_at is not None and at >= self.ended_at) or (self.ends_at is not None and at >= self.ends_at)

    def active_until(self, at: datetime) -> datetime:
        """For a window active at `at`: the instant its current stretch ends (at most LOOKAHEAD ahead)."""
        limits = [t for t in (self.ends_at, self.ended_at) if t is not None]
        if self.recurrence is not None:
            horizon = at + LOOKAHEAD
            edges = sorted(self.recurrence.edges(at, horizon))
            limits.append(next((e for e in edges if not self.recurrence.contains(e)), horizon))
        return min(limits)

    def describe(self) -> str:
        """`#3 (db upgrade)` as the timeline and the CLI name it."""
        return f"#{self.id} ({self.comment})" if self.comment else f"#{self.id}"

    def schedule(self) -> str:
        """When the window is, in words: `2026-12-01T02:00:00+00:00 .. 2026-12-01T04:00:00+00:00` or the slot."""
        if self.recurrence is None:
            return f"{_iso(self.starts_at)} .. {_iso(self.ends_at)}"
        r = self.recurrence
        bounds = ""
        if self.starts_at is not None or self.ends_at is not None:
            bounds = f" from {_iso(self.starts_at)} to {_iso(self.ends_at)}"
        return f"every {','.join(r.days)} {r.start:%H:%M}-{r.end:%H:%M} {r.timezone}{bounds}"

    def to_json(self, at: datetime | None = None) -> dict[str, Any]:
        """The API's view of the window (`active` only when `at` is given)."""
        out: dict[str, Any] = {
            "id": self.id, "comment": self.comment, "matchers": [str(m) for m in self.matchers],
            "starts_at": _iso(self.starts_at), "ends_at": _iso(self.ends_at),
            "recurrence": recurrence_json(self.recurrence), "created_by": self.created_by,
            "created_at": _iso(self.created_at), "ended_at": _iso(self.ended_at), "ended_by": self.ended_by,
            "incident_id": self.incident_id, "alertmanager_silence_id": self.alertmanager_silence_id,
            "schedule": self.schedule(),
            "mirror": {"state": self.mirror_state, "error": self.mirror_error} if self.mirror_state else None}
        if at is not None:
            out["active"] = self.active(at)
            out["active_until"] = _iso(self.active_until(at)) if self.active(at) else None
        return out


@dataclass(frozen=True, slots=True)
class Hold:
    """Labels covered at some instant: by `window` (the first active one), until `until` (no window covers them
    any more then)."""

    window: Window
    until: datetime


def hold(windows: Iterable[Window], labels: Mapping[str, str], at: datetime) -> Hold | None:
    """Whether windows cover `labels` at `at`, and until when: the next instant no window covers them (windows
    that follow one another without a gap count as one hold)."""
    mine = [w for w in windows if w.covers(labels)]
    first = next((w for w in sorted(mine, key=lambda w: w.id) if w.active(at)), None)
    if first is None:
        return None
    until = at
    for _ in range(MAX_CHAIN):
        covering = [w for w in mine if w.active(until)]
        if not covering:
            break
        until = max(w.active_until(until) for w in covering)
    return Hold(first, until)


def active_for(windows: Iterable[Window], labels: Mapping[str, str], at: datetime) -> list[Window]:
    """The windows active at `at` that cover `labels`, oldest first."""
    return sorted((w for w in windows if w.active(at) and w.covers(labels)), key=lambda w: w.id)


def recurrence_json(r: TimeWindow | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {"days": list(r.days), "from": r.start.strftime("%H:%M"), "to": r.end.strftime("%H:%M"),
            "timezone": r.timezone}


def from_row(row: Mapping[str, Any]) -> Window:
    """A window from its table row (matchers stored as Alertmanager text, recurrence as recurrence_json)."""
    rec = row["recurrence"]
    return Window(
        id=int(row["id"]), comment=str(row["comment"] or ""),
        matchers=tuple(parse_matcher(m) for m in row["matchers"] or []),
        starts_at=row["starts_at"], ends_at=row["ends_at"],
        recurrence=TimeWindow.model_validate(rec) if rec else None,
        created_by=str(row["created_by"]), created_at=row["created_at"], ended_at=row["ended_at"],
        ended_by=row["ended_by"], incident_id=row["incident_id"],
        alertmanager_silence_id=row["alertmanager_silence_id"], mirror_state=row.get("mirror_state"),
        mirror_error=row.get("mirror_error"), mirror_until=row.get("mirror_until"))


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None
