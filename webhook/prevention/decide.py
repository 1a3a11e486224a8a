"""The preventive decisions, pure: this round's evaluations, the preventive alerts Tocsin holds and the debounce
memory -> alerts to fire (open, update, severity change), alerts to resolve, timeline entries.

One alert per series and configured name; its fingerprint leaves severity out, so a severity change is a new
*episode* of the same alert (fired first, then the old episode resolved, in one payload): the ingest batch lets
the new episode join the open incident and raises the incident's severity (`higher_severity`), while an
annotation change of the same episode only updates the stored alert (webhook/incidents/model.py, UPDATE).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

#: The ETA must move by more than this fraction of the time left before the timeline says so.
MOVED = 0.2
#: "on" state of an exhaustion or countdown forecast (baselines use their direction, "drop" or "surge")
WARN = "warn"


class Eval(NamedTuple):
    """One series of one forecast or baseline, judged this round."""

    fingerprint: str
    name: str
    #: the alert state this round asks for: None (normal), "warn", "drop" or "surge"
    signal: str | None
    #: False: not judged (holiday, below the floor): the state is held, not moved towards normal
    judged: bool = True
    labels: Mapping[str, str] = {}
    annotations: Mapping[str, str] = {}
    generator_url: str = ""
    eta: datetime | None = None

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")


class Held(NamedTuple):
    """A preventive alert episode stored as firing (on an open incident, or on one a human resolved)."""

    fingerprint: str
    starts_at: datetime
    incident_id: int | None
    incident_open: bool
    labels: Mapping[str, str] = {}
    annotations: Mapping[str, str] = {}
    generator_url: str = ""

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


class Track(NamedTuple):
    """Debounce memory of one alert (per leader; rebuilt from the held alerts after a leader change)."""

    name: str
    state: str | None = None
    run: int = 0
    last: str | None = None
    #: the ETA the timeline last reported (moves are measured from it), and the severity
    noted_eta: datetime | None = None
    severity: str = ""


class Fire(NamedTuple):
    fingerprint: str
    starts_at: datetime
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    generator_url: str


class Plan(NamedTuple):
    fire: list[Fire]
    #: resolved after the fires (a severity change fires the new episode before the old one ends)
    resolve: list[Held]
    #: timeline entries: (fingerprint, kind, detail); the incident is the one the fingerprint fires on
    events: list[tuple[str, str, dict[str, Any]]]
    memory: dict[str, Track]


def step(t: Track, signal: str | None, judged: bool, k: int) -> Track:
    """Debounce: a state switches on after `k` consecutive rounds agreeing on it, off after `k` normal ones."""
    if not judged:
        return t
    if signal == t.state:
        return t._replace(run=0, last=signal)
    run = t.run + 1 if signal == t.last else 1
    if run >= k:
        return t._replace(state=signal, run=0, last=signal)
    return t._replace(run=run, last=signal)


def iso(at: datetime | None) -> str:
    return "" if at is None else at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def recalled(h: Held) -> Track:
    """What a new leader assumes of an alert it finds firing: warning on (it was decided by the previous one)."""
    state = h.annotations.get("tocsin_baseline_direction") or WARN
    return Track(h.name, state, 0, state, _parse(h.annotations.get("tocsin_forecast_eta")),
                 h.labels.get("severity", ""))


def moved(before: datetime | None, after: datetime | None, now: datetime) -> bool:
    """Did the ETA move by more than MOVED of the time that was left?"""
    if before is None or after is None:
        return before != after
    left = max((before - now).total_seconds(), 60.0)
    return abs((after - before).total_seconds()) > MOVED * left


def plan(evaluated: Mapping[str, Iterable[Eval]], sustain: Mapping[str, int], held: Iterable[Held],
         memory: Mapping[str, Track], now: datetime) -> Plan:
    """Decide one round.

    `evaluated`: per configured name evaluated this round (a name whose query failed is absent: its alerts and
    memory stay as they are), its series; `sustain`: every configured name and its debounce length. A held alert
    of a name no longer configured is resolved.
    """
    out = Plan([], [], [], dict(memory))
    by_fp: dict[str, Held] = {}
    for h in sorted(held, key=lambda h: h.starts_at):  # two episodes of one alert: the older one ends
        if h.fingerprint in by_fp:
            out.resolve.append(by_fp[h.fingerprint])
        by_fp[h.fingerprint] = h
    for fp, h in by_fp.items():
        if h.name not in sustain:
            out.resolve.append(h)
            out.events.append((fp, "forecast_cleared", {"message": f"{h.name} is no longer configured"}))
            out.memory.pop(fp, None)
        elif fp not in out.memory:
            out.memory[fp] = recalled(h)
    for name, evals in evaluated.items():
        seen = {e.fingerprint: e for e in evals}
        fps = seen.keys() | {fp for fp, t in out.memory.items() if t.name == name}
        for fp in sorted(fps):
            _one(out, fp, seen.get(fp), by_fp.get(fp), out.memory.get(fp, Track(name)), sustain[name], now)
    return out


def _one(out: Plan, fp: str, e: Eval | None, h: Held | None, before: Track, k: int, now: datetime) -> None:
    # a series gone from the answer counts as normal: after k empty rounds the alert resolves
    t = step(before, e.signal if e is not None else None, e.judged if e is not None else True, k)
    if t.state is None:
        if h is not None:
            out.resolve.append(h)
            why = "forecast cleared" if e is not None else "series no longer returned by the query"
            out.events.append((fp, "forecast_cleared", {"message": why}))
        if t.run == 0:  # settled on normal: nothing to remember
            out.memory.pop(fp, None)
        else:
            out.memory[fp] = t
        return
    if e is None or e.signal is None:
        out.memory[fp] = t  # still on (debounced) without a fresh forecast: nothing to update
        return
    if h is None:
        if before.state is None:  # switched on now: open
            out.fire.append(Fire(fp, _ms(now), e.labels, e.annotations, e.generator_url))
            t = t._replace(noted_eta=e.eta, severity=e.severity)
        # else: on, but its alert was ended elsewhere (a reconcile, a removed row): not re-opened until it clears
        out.memory[fp] = t
        return
    if not h.incident_open:  # a human resolved the incident: no new page until the forecast clears
        out.memory[fp] = t
        return
    if e.severity != h.labels.get("severity", ""):
        out.fire.append(Fire(fp, _ms(now), e.labels, e.annotations, e.generator_url))
        out.resolve.append(h)
    elif dict(e.annotations) != dict(h.annotations) or e.generator_url != h.generator_url:
        out.fire.append(Fire(fp, h.starts_at, e.labels, e.annotations, e.generator_url))
    if e.severity != t.severity or moved(t.noted_eta, e.eta, now):
        was = f" (was {iso(t.noted_eta)})" if t.noted_eta is not None and e.eta is not None else ""
        what = f"forecast moved: ETA {iso(e.eta)}{was}" if e.eta is not None else "baseline deviation changed"
        out.events.append((fp, "forecast_moved", {"message": f"{what}, severity {e.severity}", "eta": iso(e.eta),
                                                  "previous_eta": iso(t.noted_eta), "severity": e.severity,
                                                  "previous_severity": t.severity}))
        t = t._replace(noted_eta=e.eta, severity=e.severity)
    out.memory[fp] = t


def _ms(at: datetime) -> datetime:
    """Episodes are compared at the millisecond (Alertmanager's precision): start them on one."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000)
