"""The alert-quality figures, in plain Python over the rows webhook/report/queries.py streams (no SQL here).

Every figure is defined in docs/report.md; the names below are the JSON keys. The accumulator keeps one small
record per incident of the period (ids, times and flags, no labels or JSON) and folds pages into per-responder
and chart counters as they arrive, so memory grows with the incidents of the period, never with the events.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

#: Actors that are Tocsin itself, Alertmanager or the remediation engine; every other actor is a human.
SYSTEM_ACTORS = frozenset({"tocsin", "alertmanager", "tocsin-remediation"})
#: Timeline kinds that are a human acting on the incident (by a human actor).
HUMAN_KINDS = frozenset({"acknowledged", "resolved", "snoozed", "feedback"})
#: The note the callback channels put on their actions ("via slack"): a channel tag, not a human's note.
CHANNEL_TAG = re.compile(r"^via [a-z_]+$")
#: Pages are judged per quarter hour of UTC (seconds): every UTC offset and every DST switch of the tz database
#: since 1980 falls on a quarter hour, and so must every window edge (Settings checks), so all instants of a
#: quarter hour share their local hour, day, working/sleep hours and shift; judging each quarter once per zone
#: instead of each page keeps 100,000 pages well under a second.
QUARTER = 900
#: Upper edges (minutes) of the MTTA histogram buckets; the last bucket is open.
MTTA_BUCKETS = (1, 5, 15, 30, 60, 240)
NONE = "(none)"


@dataclass(frozen=True)
class Settings:
    """Knobs of the definitions (docs/report.md); the defaults are the documented ones."""

    transient: timedelta = timedelta(minutes=5)
    work_days: frozenset[int] = frozenset(range(5))  # Monday..Friday
    work_start: time = time(9)
    work_end: time = time(18)
    sleep_start: time = time(22)
    sleep_end: time = time(7)
    #: Local start times of the two 12-hour shifts of a day.
    day_shift: time = time(7)
    night_shift: time = time(19)
    shift_budget: int = 2
    chart_zone: str = "UTC"
    top: int = 10

    def __post_init__(self) -> None:
        for edge in (self.work_start, self.work_end, self.sleep_start, self.sleep_end, self.day_shift,
                     self.night_shift):
            if edge.minute % 15 or edge.second or edge.microsecond:
                raise ValueError(f"{edge.isoformat()}: window edges must fall on a quarter hour (see QUARTER)")

    def as_json(self) -> dict[str, Any]:
        return {"transient_minutes": self.transient.total_seconds() / 60,
                "working_hours": {"days": sorted(self.work_days), "from": self.work_start.isoformat("minutes"),
                                  "to": self.work_end.isoformat("minutes")},
                "sleep_hours": {"from": self.sleep_start.isoformat("minutes"),
                                "to": self.sleep_end.isoformat("minutes")},
                "shifts": [self.day_shift.isoformat("minutes"), self.night_shift.isoformat("minutes")],
                "shift_budget": self.shift_budget, "chart_zone": self.chart_zone}


def is_human(actor: str) -> bool:
    return actor not in SYSTEM_ACTORS


def is_real_note(note: str | None) -> bool:
    """A note a person wrote (an ack comment, a resolve reason), not a channel tag."""
    return bool(note and note.strip() and not CHANNEL_TAG.match(note.strip()))


def percentile(values: list[float], p: float, ordered: bool = False) -> float | None:
    """Nearest-rank percentile (the value at rank ceil(p * n) of the sorted values); None when empty."""
    if not values:
        return None
    if not ordered:
        values = sorted(values)
    return values[max(0, math.ceil(p * len(values)) - 1)]


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(slots=True)
class Incident:
    id: int
    rule: str
    team: str
    service: str
    severity: str
    opened_at: datetime
    acked_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    flapping: bool
    human: bool = False
    noted: bool = False  # a human note, a resolve reason or a runbook approval: implicit "actionable"
    reasoned_resolve: bool = False  # resolved by a human with a reason (the "fix pattern" of a runbook)
    feedback_yes: int = 0
    feedback_no: int = 0
    pages: int = 0
    sleep_pages: int = 0
    off_hours_pages: int = 0
    channels: dict[str, int] | None = None
    run_seen: bool = False  # the team of the first escalation run was applied (see first_run_team)
    escalated: bool = False
    remediated: bool = False


@dataclass
class Group:
    """The figures of one rule, team, service or severity (or of everything)."""

    incidents: int = 0
    pages: int = 0
    channels: Counter[str] = field(default_factory=Counter)
    transient: int = 0
    flapping: int = 0
    never_acked: int = 0
    actionable: int = 0
    reasoned_resolves: int = 0
    pages_avoided: int = 0
    remediated: int = 0
    escalated: int = 0
    sleep_pages: int = 0
    off_hours_pages: int = 0
    mtta: list[float] = field(default_factory=list)
    mttr: list[float] = field(default_factory=list)

    def add(self, inc: Incident, s: Settings) -> None:
        """One incident's part of every figure (the definitions of docs/report.md; written flat: it runs once
        per incident of the period)."""
        self.incidents += 1
        pages = inc.pages
        if pages:
            self.pages += pages
            channels = self.channels
            for c, k in inc.channels.items():  # type: ignore[union-attr]
                channels[c] += k
            self.sleep_pages += inc.sleep_pages
            self.off_hours_pages += inc.off_hours_pages
        opened, resolved = inc.opened_at, inc.resolved_at
        if resolved is not None:
            open_for = resolved - opened
            self.mttr.append(open_for.total_seconds())
            # transient: resolved by itself (not by a person) within the limit, and nobody acted on it
            if not inc.human and (inc.resolved_by is None or inc.resolved_by in SYSTEM_ACTORS) \
                    and open_for <= s.transient:
                self.transient += 1
        if inc.acked_at is None:
            self.never_acked += 1
        else:
            self.mtta.append((inc.acked_at - opened).total_seconds())
        if inc.flapping:
            self.flapping += 1
        # actionable: the answers (latest per person) decide when there are any, else a note/reason/approval
        if inc.feedback_yes or inc.feedback_no:
            self.actionable += inc.feedback_yes >= inc.feedback_no
        else:
            self.actionable += inc.noted
        if inc.reasoned_resolve:
            self.reasoned_resolves += 1
        if inc.remediated:
            self.remediated += 1
            if not pages:
                self.pages_avoided += 1
        if inc.escalated:
            self.escalated += 1

    def merge(self, other: Group) -> None:
        self.incidents += other.incidents
        self.pages += other.pages
        self.transient += other.transient
        self.flapping += other.flapping
        self.never_acked += other.never_acked
        self.actionable += other.actionable
        self.reasoned_resolves += other.reasoned_resolves
        self.pages_avoided += other.pages_avoided
        self.remediated += other.remediated
        self.escalated += other.escalated
        self.sleep_pages += other.sleep_pages
        self.off_hours_pages += other.off_hours_pages
        for c, k in other.channels.items():
            self.channels[c] += k
        self.mtta += other.mtta
        self.mttr += other.mttr

    def as_json(self) -> dict[str, Any]:
        n = self.incidents
        self.mtta.sort()
        self.mttr.sort()
        return {
            "incidents": n, "pages": self.pages, "pages_by_channel": dict(sorted(self.channels.items())),
            "transient": self.transient, "transient_share": share(self.transient, n),
            "flapping": self.flapping, "flapping_share": share(self.flapping, n),
            "never_acked": self.never_acked, "never_acked_share": share(self.never_acked, n),
            "actionable": self.actionable, "actionable_share": share(self.actionable, n),
            "resolved_with_reason": self.reasoned_resolves,
            "mtta_p50_s": percentile(self.mtta, 0.5, True), "mtta_p90_s": percentile(self.mtta, 0.9, True),
            "mttr_p50_s": percentile(self.mttr, 0.5, True), "mttr_p90_s": percentile(self.mttr, 0.9, True),
            "remediated": self.remediated, "pages_avoided": self.pages_avoided,
            "escalated_step2": self.escalated,
            "sleep_pages": self.sleep_pages, "off_hours_pages": self.off_hours_pages,
        }


@dataclass
class ResponderStats:
    zone: str
    tz: ZoneInfo
    pages: int = 0
    off_hours: int = 0
    sleep: int = 0
    shifts: dict[tuple[date, int], int] = field(default_factory=dict)
    #: quarter hour (see QUARTER) -> (out of working hours, sleep hours, shift), computed once per quarter
    quarters: dict[int, tuple[bool, bool, tuple[date, int]]] = field(default_factory=dict)

    def as_json(self, name: str, s: Settings) -> dict[str, Any]:
        return {"responder": name, "timezone": self.zone, "pages": self.pages, "off_hours_pages": self.off_hours,
                "sleep_pages": self.sleep, "shifts_with_pages": len(self.shifts),
                "shifts_over_budget": sum(1 for n in self.shifts.values() if n > s.shift_budget),
                "max_pages_per_shift": max(self.shifts.values(), default=0)}


def in_window(t: time, start: time, end: time) -> bool:
    """Local time inside [start, end); a window with end before start spans midnight."""
    return start <= t < end if start < end else (t >= start or t < end)


def shift_of(local: datetime, s: Settings) -> tuple[date, int]:
    """The 12-hour shift (its local start date, 0 day / 1 night) a local wall-clock time falls in."""
    t = local.time()
    if t >= s.night_shift:
        return local.date(), 1
    if t >= s.day_shift:
        return local.date(), 0
    return local.date() - timedelta(days=1), 1


class Accumulator:
    """Fed by the queries in this order: incidents (and their first runs' teams), then timeline events, pages,
    feedback (each keyed by incident id, rows of other incidents are ignored); `finish` builds the report."""

    def __init__(self, settings: Settings, zones: Mapping[str, str]) -> None:
        self.s = settings
        self.zones = dict(zones)  # responder -> IANA zone (docs/report.md: how it is chosen)
        self.incidents: dict[int, Incident] = {}
        self.responders: dict[str, ResponderStats] = {}
        self.chart_tz = ZoneInfo(settings.chart_zone)
        self.chart_quarters: dict[tuple[int, str], int] = {}  # (quarter hour, severity) -> pages

    def incident(self, inc: Incident) -> None:
        self.incidents[inc.id] = inc

    def event(self, incident_id: int, kind: str, actor: str, note: str | None) -> None:
        inc = self.incidents.get(incident_id)
        if inc is None:
            return
        if kind == "flapping":
            inc.flapping = True
            return
        if kind not in HUMAN_KINDS or not is_human(actor):
            return
        inc.human = True
        if kind != "feedback" and is_real_note(note):
            inc.noted = True
            if kind == "resolved":
                inc.reasoned_resolve = True

    def page(self, incident_id: int, channel: str, responder: str | None, epoch: int) -> None:
        """One page that went out at `epoch` (whole seconds since 1970, UTC)."""
        # the hot path (one call per page): plain dicts, and each (zone, quarter hour) judged once (see QUARTER)
        inc = self.incidents.get(incident_id)
        if inc is None:
            return
        inc.pages += 1
        ch = inc.channels
        if ch is None:
            ch = inc.channels = {}
        ch[channel] = ch.get(channel, 0) + 1
        q = epoch // QUARTER
        key = (q, inc.severity)
        self.chart_quarters[key] = self.chart_quarters.get(key, 0) + 1
        if not responder:
            return
        r = self.responders.get(responder)
        if r is None:
            zone = self.zones.get(responder, "UTC")
            r = self.responders[responder] = ResponderStats(zone, ZoneInfo(zone))
        judged = r.quarters.get(q)
        if judged is None:
            judged = r.quarters[q] = self._judge(datetime.fromtimestamp(q * QUARTER, r.tz))
        off, sleep, shift = judged
        r.pages += 1
        if off:
            r.off_hours += 1
            inc.off_hours_pages += 1
        if sleep:
            r.sleep += 1
            inc.sleep_pages += 1
        r.shifts[shift] = r.shifts.get(shift, 0) + 1

    def _judge(self, local: datetime) -> tuple[bool, bool, tuple[date, int]]:
        """Out of working hours, in sleep hours, and the shift, of a local time (and its whole quarter hour)."""
        t, s = local.time(), self.s
        off = not (local.weekday() in s.work_days and in_window(t, s.work_start, s.work_end))
        return off, in_window(t, s.sleep_start, s.sleep_end), shift_of(local, s)

    def first_run_team(self, incident_id: int, team: str) -> None:
        """Escalation runs in id order: the first run's team, unless empty, replaces the `team` label."""
        inc = self.incidents.get(incident_id)
        if inc is not None and not inc.run_seen:
            inc.run_seen = True
            if team:
                inc.team = team

    def feedback(self, incident_id: int, actionable: bool) -> None:
        if (inc := self.incidents.get(incident_id)) is not None:
            if actionable:
                inc.feedback_yes += 1
            else:
                inc.feedback_no += 1

    def finish(self, start: datetime, end: datetime, team: str | None) -> dict[str, Any]:
        from webhook.report.suggest import noisiest

        # each incident is added once, to the group of its (rule, team, service, severity); those few thousand
        # groups are then merged per dimension: five times fewer adds than adding each incident to five groups
        combos: dict[tuple[str, str, str, str], Group] = {}
        mtta_minutes: list[float] = []
        rule_severities: dict[str, set[str]] = {}
        for inc in self.incidents.values():
            key = (inc.rule, inc.team, inc.service, inc.severity)
            g = combos.get(key)
            if g is None:
                g = combos[key] = Group()
                rule_severities.setdefault(inc.rule, set()).add(inc.severity)
            g.add(inc, self.s)
            if inc.acked_at is not None:
                mtta_minutes.append((inc.acked_at - inc.opened_at).total_seconds() / 60)
        total = Group()
        groups: dict[str, dict[str, Group]] = {"rule": {}, "team": {}, "service": {}, "severity": {}}
        for key, g in combos.items():
            total.merge(g)
            for dim, name in zip(("rule", "team", "service", "severity"), key, strict=True):
                into = groups[dim].get(name)
                if into is None:
                    into = groups[dim][name] = Group()
                into.merge(g)
        by = {f"by_{dim}": [{dim: k, **g.as_json()} for k, g in sorted(gs.items())] for dim, gs in groups.items()}
        per_day: dict[date, dict[str, int]] = {}
        hour_of_week = [0] * 168
        for (q, severity), n in self.chart_quarters.items():
            local = datetime.fromtimestamp(q * QUARTER, self.chart_tz)
            day = per_day.setdefault(local.date(), {})
            day[severity] = day.get(severity, 0) + n
            hour_of_week[local.weekday() * 24 + local.hour] += n
        return {
            "period": {"from": start.isoformat(), "to": end.isoformat()},
            "team": team,
            "settings": self.s.as_json(),
            "totals": total.as_json(),
            **by,
            "responders": [r.as_json(name, self.s) for name, r in sorted(self.responders.items())],
            "noisiest": noisiest(by["by_rule"], self.s.top, rule_severities, self.s.transient.total_seconds() / 60),
            "charts": {
                "zone": self.s.chart_zone,
                "pages_per_day": {d.isoformat(): dict(sorted(c.items())) for d, c in sorted(per_day.items())},
                "mtta_histogram": histogram(mtta_minutes, MTTA_BUCKETS),
                "pages_by_hour_of_week": hour_of_week,
            },
        }


def histogram(values: Iterable[float], edges: tuple[int, ...]) -> list[dict[str, Any]]:
    """Counts per bucket [previous edge, edge) in minutes; the last bucket is [last edge, inf)."""
    counts = [0] * (len(edges) + 1)
    for v in values:
        counts[bisect_right(edges, v)] += 1  # the first bucket whose upper edge is above v
    lows = (0, *edges)
    return [{"from_min": lo, "to_min": edges[i] if i < len(edges) else None, "count": counts[i]}
            for i, lo in enumerate(lows)]
