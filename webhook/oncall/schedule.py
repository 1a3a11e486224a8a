"""On-call: responders, teams and schedules (rotations, layers, overrides, swaps); who is on call at time T."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from webhook.config.oncall import Layer, Responder, Schedule, rotation_user, shift_slot, shift_start


@dataclass(frozen=True, slots=True)
class Shift:
    user: str
    start: datetime
    end: datetime
    source: str  # layer name, or "override"


def _layer_user(schedule: Schedule, layer: Layer, at: datetime) -> str | None:
    if layer.restrictions and not any(w.contains(at) for w in layer.restrictions):
        return None
    slot = shift_slot(schedule, layer, at)
    if slot is None:
        return None
    user = rotation_user(layer, slot[0])
    for swap in schedule.swaps:
        if swap.layer != layer.name:
            continue
        for mine, theirs in ((swap.first, swap.second), (swap.second, swap.first)):
            ref = shift_slot(schedule, layer, mine.at)
            if ref is not None and ref[0] == slot[0] and user == mine.user:
                return theirs.user
    return user


def on_call(schedule: Schedule, at: datetime) -> list[tuple[str, str]]:
    """(user, source) pairs on call at `at`: every active override, else the highest layer's person."""
    overrides = [(o.user, "override") for o in schedule.overrides if o.start <= at < o.end]
    if overrides:
        return list(dict.fromkeys(overrides))
    for layer in reversed(schedule.layers):
        user = _layer_user(schedule, layer, at)
        if user is not None:
            return [(user, layer.name)]
    return []


def who_is_on_call(schedule: Schedule, at: datetime, responders: Mapping[str, Responder]) -> list[Responder]:
    return [responders[user] for user, _ in on_call(schedule, at)]


def _edges(schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    edges = {start, end}
    edges.update(t for o in schedule.overrides for t in (o.start, o.end) if start < t < end)
    for layer in schedule.layers:
        slot = shift_slot(schedule, layer, start)
        k = slot[0] if slot else 0
        while (t := shift_start(schedule, layer, k)) < end:
            if t > start:
                edges.add(t)
            k += 1
        for window in layer.restrictions:
            edges.update(window.edges(start, end))
    return sorted(edges)


def shifts(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """The final schedule: shifts overlapping [start, end), each whole (not cut at the window's edges)."""
    margin = timedelta(days=max(la.period_days for la in schedule.layers) + 1)
    edges = _edges(schedule, start - margin, end + margin)
    open_: dict[tuple[str, str], datetime] = {}
    done: list[Shift] = []
    for a in edges[:-1]:  # who is on call is constant between two edges
        now = set(on_call(schedule, a))
        for key in [k for k in open_ if k not in now]:
            done.append(Shift(key[0], open_.pop(key), a, key[1]))
        for key in now:
            open_.setdefault(key, a)
    done += [Shift(user, since, edges[-1], source) for (user, source), since in open_.items()]
    kept = [s for s in done if s.start < end and s.end > start]
    return sorted(kept, key=lambda s: (s.start, s.user))


def now_and_next(schedule: Schedule, now: datetime, ahead: list[Shift]) -> tuple[Shift | None, Shift | None]:
    """The shift on now (the first of several overlapping) and the one after it, from `shifts(schedule, now, ..)`."""
    current = next((s for s in ahead if s.start <= now < s.end), None)
    after = current.end if current is not None else now
    upcoming = next((s for s in ahead if s.start >= after and s is not current), None)
    return current, upcoming
