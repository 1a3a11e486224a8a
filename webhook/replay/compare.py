"""Recorded pages beside replayed ones: matched by identity (incident, kind, channel, address, person, step), and
counted per person, per night, per rule and per channel. Pure: no I/O."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from webhook.replay.engine import Page

#: Kinds that wake someone up (a page), as opposed to updates of a message already sent.
PAGING = frozenset({"trigger", "reminder", "storm_summary", "digest"})
#: A replayed page matches a recorded one when due within this much: the recording's timers fired on the service's
#: 1 s tick and after the commit that made them due; the replay fires them at the exact due time.
TOLERANCE = timedelta(seconds=5)
#: Night: a page due between these local hours (in the responder's time zone) counts as a night page.
NIGHT = (22, 7)


@dataclass
class Side:
    pages: int = 0
    night: int = 0
    messages: int = 0  # every delivery, updates included


@dataclass
class Diff:
    matched: int = 0
    moved: int = 0  # same page, due at another time (beyond TOLERANCE)
    only_recorded: list[Page] = field(default_factory=list)
    only_replayed: list[Page] = field(default_factory=list)
    per_responder: dict[str, tuple[Side, Side]] = field(default_factory=dict)
    per_rule: dict[str, tuple[Side, Side]] = field(default_factory=dict)
    per_channel: dict[str, tuple[Side, Side]] = field(default_factory=dict)
    nights: dict[str, tuple[int, int]] = field(default_factory=dict)  # "2026-11-03 alice": (recorded, replayed)

    @property
    def identical(self) -> bool:
        return not self.moved and not self.only_recorded and not self.only_replayed

    @property
    def match_ratio(self) -> float:
        total = self.matched + self.moved + len(self.only_recorded) + len(self.only_replayed)
        return 1.0 if total == 0 else self.matched / total


def is_night(at: datetime, zone: ZoneInfo) -> bool:
    hour = at.astimezone(zone).hour
    start, end = NIGHT
    return hour >= start or hour < end


def night_of(at: datetime, zone: ZoneInfo) -> str:
    """The local date a night belongs to: its evening (a 03:00 page is the night of the day before)."""
    local = at.astimezone(zone)
    return (local - timedelta(hours=NIGHT[1])).date().isoformat()


def compare(recorded: list[Page], replayed: list[Page], zones: dict[str, ZoneInfo],
            tolerance: timedelta = TOLERANCE) -> Diff:
    out = Diff()
    pool: dict[tuple[object, ...], list[Page]] = defaultdict(list)
    for p in sorted(replayed, key=lambda p: p.due_at):
        pool[p.identity].append(p)
    for r in sorted(recorded, key=lambda p: p.due_at):
        candidates = pool.get(r.identity)
        if not candidates:
            out.only_recorded.append(r)
            continue
        best = min(range(len(candidates)), key=lambda i: abs(candidates[i].due_at - r.due_at))
        p = candidates.pop(best)
        if abs(p.due_at - r.due_at) <= tolerance:
            out.matched += 1
        else:
            out.moved += 1
    out.only_replayed = sorted((p for ps in pool.values() for p in ps), key=lambda p: p.due_at)
    utc = ZoneInfo("UTC")
    for side, pages in ((0, recorded), (1, replayed)):
        for p in pages:
            zone = zones.get(p.responder or "", utc)
            night = p.kind in PAGING and is_night(p.due_at, zone)
            for table, key in ((out.per_responder, p.responder or p.address), (out.per_rule, p.alertname or "?"),
                               (out.per_channel, p.channel)):
                pair = table.setdefault(key, (Side(), Side()))
                s = pair[side]
                s.messages += 1
                if p.kind in PAGING:
                    s.pages += 1
                    s.night += night
            if night and p.responder:
                k = f"{night_of(p.due_at, zone)} {p.responder}"
                rec, rep = out.nights.get(k, (0, 0))
                out.nights[k] = (rec + 1, rep) if side == 0 else (rec, rep + 1)
    return out


def page_json(p: Page) -> dict[str, Any]:
    return {"incident_key": p.incident[0] if p.incident else None,
            "incident_opened_at": p.incident[1].isoformat() if p.incident else None, "alertname": p.alertname,
            "severity": p.severity, "kind": p.kind, "channel": p.channel, "address": p.address,
            "responder": p.responder, "step": p.step, "due_at": p.due_at.isoformat()}


def diff_json(d: Diff) -> dict[str, Any]:
    def sides(table: dict[str, tuple[Side, Side]]) -> dict[str, Any]:
        return {k: {"recorded": vars(a), "replayed": vars(b)} for k, (a, b) in sorted(table.items())}

    return {"identical": d.identical, "match_ratio": round(d.match_ratio, 6), "matched": d.matched,
            "moved": d.moved, "only_recorded": [page_json(p) for p in d.only_recorded],
            "only_replayed": [page_json(p) for p in d.only_replayed], "per_responder": sides(d.per_responder),
            "per_rule": sides(d.per_rule), "per_channel": sides(d.per_channel),
            "nights": {k: {"recorded": a, "replayed": b} for k, (a, b) in sorted(d.nights.items())}}


def counter_of(pages: list[Page]) -> Counter[str]:
    return Counter(p.kind for p in pages)
