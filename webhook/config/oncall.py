"""The `oncall:` section: responders, teams, schedules (layers, overrides, swaps), and the shift arithmetic
that their checks need."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, Field, model_validator

from webhook.config.types import E164, Duration, Name, Strict, TimeZoneName

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: `push` reaches the browsers and phones the person subscribed in the console (their stored subscriptions).
ContactChannel = Literal["slack", "sms", "voice", "email", "push"]
def _local(d: date, t: time, tz: ZoneInfo) -> datetime:
    # in UTC: Python compares and subtracts datetimes sharing one tzinfo by wall clock, wrong across DST
    return datetime.combine(d, t, tzinfo=tz).astimezone(UTC)


class TimeWindow(Strict):
    """Days and a local time range, e.g. working hours; `to` before `from` spans midnight."""

    days: tuple[Weekday, ...] = DAYS
    start: time = Field(alias="from")
    end: time = Field(alias="to")
    timezone: TimeZoneName = "UTC"

    def contains(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.timezone))
        t, day = local.time(), DAYS[local.weekday()]
        if self.start < self.end:
            return day in self.days and self.start <= t < self.end
        if self.start == self.end:
            return day in self.days
        if t >= self.start:
            return day in self.days
        return t < self.end and DAYS[(local.weekday() - 1) % 7] in self.days

    def edges(self, start: datetime, end: datetime) -> list[datetime]:
        """Instants in (start, end) where the window opens or closes."""
        tz = ZoneInfo(self.timezone)
        day = start.astimezone(tz).date() - timedelta(days=1)
        out: list[datetime] = []
        while _local(day, time(0), tz) < end:
            out += [_local(day, self.start, tz), _local(day, self.end, tz)]
            day += timedelta(days=1)
        return [e for e in out if start < e < end]


class ContactRule(Strict):
    """Reach the responder on `channel` once `after` has passed since they were paged."""

    channel: ContactChannel
    after: Duration = timedelta(0)


class Responder(Strict):
    name: Name
    full_name: str | None = None
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    phone: E164 | None = None
    slack_user: Annotated[str, Field(pattern=r"^[UW][A-Z0-9]{2,31}$")] | None = None
    timezone: TimeZoneName = "UTC"
    locale: Literal["en", "de"] = "en"
    contact_rules: tuple[ContactRule, ...] = (ContactRule(channel="slack"),)

    def address(self, channel: ContactChannel) -> str | None:
        if channel == "push":  # the person's stored subscriptions: the notifier looks them up by name
            return self.name
        return {"slack": self.slack_user, "sms": self.phone, "voice": self.phone, "email": self.email}[channel]

    @model_validator(mode="after")
    def _rules_have_addresses(self) -> Responder:
        for rule in self.contact_rules:
            if self.address(rule.channel) is None:
                raise ValueError(f"responder {self.name}: contact rule {rule.channel} needs an address for it")
        return self


class Team(Strict):
    name: Name
    members: tuple[str, ...] = ()
    lead: str | None = None
    schedule: str | None = None


class Layer(Strict):
    """A rotation: participants take turns, handing off at `handoff` local time every day or week."""

    name: Name
    rotation: Literal["daily", "weekly"] = "weekly"
    shift_length: int = Field(1, ge=1, description="rotation units per shift: 2 with weekly = fortnightly")
    handoff: time = time(9, 0)
    timezone: TimeZoneName | None = Field(None, description="defaults to the schedule's time zone")
    start: date = Field(description="the first shift starts on this date at `handoff`")
    participants: tuple[str, ...] = Field(min_length=1)
    restrictions: tuple[TimeWindow, ...] = Field((), description="only on call inside these windows")

    @property
    def period_days(self) -> int:
        return self.shift_length * (7 if self.rotation == "weekly" else 1)


class Override(Strict):
    user: str
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Override:
        if self.end <= self.start:
            raise ValueError("override ends before it starts")
        return self


class ShiftRef(Strict):
    user: str
    at: AwareDatetime = Field(description="any instant inside the shift")


class Swap(Strict):
    """Two people trade one shift each on a layer."""

    layer: str
    first: ShiftRef
    second: ShiftRef


class Schedule(Strict):
    """Layers listed bottom to top: the highest layer with someone on call wins; overrides beat all layers."""

    name: Name
    timezone: TimeZoneName = "UTC"
    layers: tuple[Layer, ...] = Field(min_length=1)
    overrides: tuple[Override, ...] = ()
    swaps: tuple[Swap, ...] = ()

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"schedule {self.name} has no layer {name!r}")

    @model_validator(mode="after")
    def _consistent(self) -> Schedule:
        if len({la.name for la in self.layers}) != len(self.layers):
            raise ValueError(f"schedule {self.name}: layer names must be unique")
        for swap in self.swaps:
            layer = self.layer(swap.layer)
            for ref in (swap.first, swap.second):
                slot = shift_slot(self, layer, ref.at)
                if slot is None or rotation_user(layer, slot[0]) != ref.user:
                    raise ValueError(f"swap on {swap.layer}: {ref.user} has no shift at {ref.at.isoformat()}")
        return self


def _tz(schedule: Schedule, layer: Layer) -> ZoneInfo:
    return ZoneInfo(layer.timezone or schedule.timezone)


def shift_start(schedule: Schedule, layer: Layer, k: int) -> datetime:
    return _local(layer.start + timedelta(days=k * layer.period_days), layer.handoff, _tz(schedule, layer))


def shift_slot(schedule: Schedule, layer: Layer, at: datetime) -> tuple[int, datetime, datetime] | None:
    """Index, start and end of the layer's shift at `at`; handoffs follow the wall clock across DST."""
    k = (at.astimezone(_tz(schedule, layer)).date() - layer.start).days // layer.period_days
    if at < shift_start(schedule, layer, k):
        k -= 1  # before today's handoff: still yesterday's shift
    if k < 0:
        return None
    return k, shift_start(schedule, layer, k), shift_start(schedule, layer, k + 1)


def rotation_user(layer: Layer, k: int) -> str:
    return layer.participants[k % len(layer.participants)]


class OnCallConfig(Strict):
    """The `oncall:` section: responders, teams and schedules, cross-checked at load."""

    responders: tuple[Responder, ...] = ()
    teams: tuple[Team, ...] = ()
    schedules: tuple[Schedule, ...] = ()

    def responder_map(self) -> dict[str, Responder]:
        return {r.name: r for r in self.responders}

    def schedule(self, name: str) -> Schedule:
        for schedule in self.schedules:
            if schedule.name == name:
                return schedule
        raise KeyError(name)

    @model_validator(mode="after")
    def _references_resolve(self) -> OnCallConfig:
        for kind, names in (("responder", [r.name for r in self.responders]), ("team", [t.name for t in self.teams]),
                            ("schedule", [s.name for s in self.schedules])):
            if len(set(names)) != len(names):
                raise ValueError(f"{kind} names must be unique")
        known = {r.name for r in self.responders}
        schedules = {s.name for s in self.schedules}
        _require(known, _schedule_users(self.schedules), "unknown responder")
        _require(known, [m for t in self.teams for m in (*t.members, *([t.lead] if t.lead else []))],
                 "unknown team member")
        _require(schedules, [t.schedule for t in self.teams if t.schedule], "unknown schedule")
        return self


def _schedule_users(schedules: Iterable[Schedule]) -> list[str]:
    users: list[str] = []
    for s in schedules:
        users += [p for la in s.layers for p in la.participants] + [o.user for o in s.overrides]
        users += [ref.user for sw in s.swaps for ref in (sw.first, sw.second)]
    return users


def _require(known: set[str], used: Iterable[str], what: str) -> None:
    missing = sorted(set(used) - known)
    if missing:
        raise ValueError(f"{what}: {', '.join(missing)}")
