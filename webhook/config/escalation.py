"""Config models of channels, escalation policies, the routing tree and noise control (strict, checked at load)."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator

from remediator.matching import Matcher, parse_matcher
from webhook.config.channels import ChannelsConfig
from webhook.config.oncall import ContactChannel, OnCallConfig, TimeWindow
from webhook.config.types import Duration, Name, Strict, TimeZoneName

# --- channels ---------------------------------------------------------------------------------------------


# --- policies ---------------------------------------------------------------------------------------------

class Target(Strict):
    """Exactly one of user, schedule, team (people), slack, pagerduty, email (channels)."""

    user: str | None = None
    schedule: str | None = None
    team: str | None = None
    #: For team targets: the team's on-call person (its schedule), every member, or its lead.
    role: Literal["oncall", "members", "lead"] = "oncall"
    slack: str | None = None
    pagerduty: str | None = None
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    #: People only: these channels at once instead of the person's contact rules.
    via: tuple[ContactChannel, ...] = ()

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [k for k in ("user", "schedule", "team", "slack", "pagerduty", "email") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("a target names exactly one of user, schedule, team, slack, pagerduty, email")
        if self.via and not self.is_people:
            raise ValueError("via applies to user, schedule and team targets only")
        return self

    @property
    def is_people(self) -> bool:
        return bool(self.user or self.schedule or self.team)

    def describe(self) -> str:
        for key in ("user", "schedule", "team", "slack", "pagerduty", "email"):
            value = getattr(self, key)
            if value:
                extra = f" ({self.role})" if key == "team" else ""
                via = f" via {','.join(self.via)}" if self.via else ""
                return f"{key}:{value}{extra}{via}"
        return "?"


class Step(Strict):
    #: Time since the incident opened (plus repeat cycles) when this step fires.
    after: Duration = timedelta(0)
    targets: tuple[Target, ...] = Field(min_length=1)
    #: Notify this step's targets again this many times while nobody acknowledges (later steps still follow).
    repeat: int = Field(0, ge=0, le=20)
    #: Time between the repetitions of this step.
    repeat_every: Duration = timedelta(minutes=5)

    @model_validator(mode="after")
    def _positive_interval(self) -> Self:
        if self.repeat and self.repeat_every <= timedelta(0):
            raise ValueError("a repeated step needs repeat_every > 0")
        return self

    @property
    def last_offset(self) -> timedelta:
        return self.after + self.repeat * self.repeat_every


class Digest(Strict):
    """Instead of paging, collect incidents into one message per day to these targets."""

    at: time = time(9, 0)
    timezone: TimeZoneName = "UTC"
    targets: tuple[Target, ...] = Field(min_length=1)


class Policy(Strict):
    name: Name
    steps: tuple[Step, ...] = ()
    #: Run the whole chain again this many times while nobody acknowledges.
    repeat: int = Field(0, ge=0, le=20)
    #: Length of one cycle of the chain when it repeats (cycle k fires step i at k*repeat_every + after).
    repeat_every: Duration = timedelta(minutes=30)
    #: Steps falling due outside these hours wait for the next opening (e.g. Slack during working hours).
    active_hours: tuple[TimeWindow, ...] = ()
    digest: Digest | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not self.steps and self.digest is None:
            raise ValueError(f"policy {self.name}: give steps or a digest")
        afters = [s.after for s in self.steps]
        if afters != sorted(afters):
            raise ValueError(f"policy {self.name}: steps must be ordered by `after`")
        if self.repeat and self.steps and self.repeat_every <= max(s.last_offset for s in self.steps):
            raise ValueError(f"policy {self.name}: repeat_every must be longer than the last step's last repetition")
        return self


# --- routing ----------------------------------------------------------------------------------------------

class Route(Strict):
    """A node of the first-match routing tree (like Alertmanager's `route`)."""

    name: str = ""
    #: Alertmanager matchers: severity="critical", team=~"db|infra", env!="dev". All must match.
    matchers: tuple[str, ...] = ()
    #: The route matches only inside one of these windows (working hours, time zones).
    active_time: tuple[TimeWindow, ...] = ()
    #: Policy of this route; children inherit it.
    policy: str | None = None
    #: Keep looking at the following siblings after this route matched.
    continue_: bool = Field(False, alias="continue")
    routes: tuple[Route, ...] = ()

    @field_validator("matchers")
    @classmethod
    def _parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            parse_matcher(text)  # ValueError names the bad matcher
        return value

    def parsed(self) -> list[Matcher]:
        return [parse_matcher(m) for m in self.matchers]


class NoiseConfig(Strict):
    #: More than this many incidents opening within a minute for one team: one summary page, not N (0: off).
    storm_threshold: int = Field(20, ge=0)
    #: Label naming the team of an alert.
    team_label: str = "team"
    #: A storm summary waits this long so the rest of the burst makes it into the same message.
    storm_hold: Duration = timedelta(seconds=15)
    #: Per responder and hour; further SMS/calls are skipped (other channels still go out).
    sms_per_hour: int = Field(10, ge=0)
    voice_per_hour: int = Field(5, ge=0)


#: A notifier call running longer than this is abandoned and retried (the vendors' own timeouts come first).
SEND_TIMEOUT = timedelta(seconds=60)
#: What a claim must still have left when its send starts, beyond SEND_TIMEOUT: time to record the outcome.
RECORD_MARGIN = timedelta(seconds=30)


class DeliveryConfig(Strict):
    """Outbox retries: exponential backoff with full jitter, Retry-After honoured, give up after a while."""

    backoff_base: Duration = timedelta(seconds=5)
    backoff_max: Duration = timedelta(minutes=5)
    max_attempts: int = Field(25, ge=1, le=1000)
    #: A claimed delivery not finished within the lease (crashed replica) is claimed again. At least the send
    #: timeout (60 s) plus 30 s: a send always ends inside its claim; one that starts late renews it.
    lease: Duration = timedelta(minutes=2)
    batch: int = Field(100, ge=1, le=5000)
    concurrency: int = Field(32, ge=1, le=512)

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> Self:
        if self.lease < SEND_TIMEOUT + RECORD_MARGIN:
            raise ValueError(f"delivery.lease must be at least {int((SEND_TIMEOUT + RECORD_MARGIN).total_seconds())}s "
                             "(the send timeout plus time to record the outcome), or a send can outlive its claim "
                             "and be made twice")
        return self


class EscalationConfig(Strict):
    policies: tuple[Policy, ...] = ()
    route: Route = Route()
    #: A new alert joining an acknowledged incident notifies everyone who already got it.
    renotify_on_new_alert: bool = True
    noise: NoiseConfig = NoiseConfig()
    delivery: DeliveryConfig = DeliveryConfig()

    def policy(self, name: str) -> Policy:
        for p in self.policies:
            if p.name == name:
                return p
        raise KeyError(name)

    @model_validator(mode="after")
    def _routes_name_policies(self) -> Self:
        names = [p.name for p in self.policies]
        if len(set(names)) != len(names):
            raise ValueError("policy names must be unique")
        missing = sorted({n for n in _route_policies(self.route) if n not in names})
        if missing:
            raise ValueError(f"route names unknown policy: {', '.join(missing)}")
        return self


def _route_policies(route: Route) -> list[str]:
    return ([route.policy] if route.policy else []) + [p for r in route.routes for p in _route_policies(r)]


def check_references(esc: EscalationConfig, oncall: OnCallConfig, channels: ChannelsConfig) -> list[str]:
    """Targets naming people, schedules, teams or PagerDuty services that the config does not define."""
    responders = {r.name for r in oncall.responders}
    schedules = {s.name for s in oncall.schedules}
    teams = {t.name: t for t in oncall.teams}
    problems: list[str] = []
    for p in esc.policies:
        targets = [(f"steps.{i}", t) for i, s in enumerate(p.steps) for t in s.targets]
        targets += [("digest", t) for t in (p.digest.targets if p.digest else ())]
        for where, t in targets:
            at = f"escalation.policies[{p.name}].{where}"
            if t.user and t.user not in responders:
                problems.append(f"{at}: unknown responder {t.user!r}")
            if t.schedule and t.schedule not in schedules:
                problems.append(f"{at}: unknown schedule {t.schedule!r}")
            if t.team and t.team not in teams:
                problems.append(f"{at}: unknown team {t.team!r}")
            elif t.team and t.role == "oncall" and not teams[t.team].schedule:
                problems.append(f"{at}: team {t.team!r} has no schedule for role oncall")
            elif t.team and t.role == "lead" and not teams[t.team].lead:
                problems.append(f"{at}: team {t.team!r} has no lead")
            if t.pagerduty and channels.pagerduty and t.pagerduty not in channels.pagerduty.services:
                problems.append(f"{at}: unknown PagerDuty service {t.pagerduty!r}")
    return problems
