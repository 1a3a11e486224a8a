"""Preventive incidents (docs/prevention.md, "Preventive incidents"): exhaustion forecasts, countdowns and seasonal
baselines of business metrics, evaluated by the leader against `prometheus.*` history."""

from __future__ import annotations

import string
from datetime import date, timedelta
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from webhook.config.types import Duration, Strict, TimeZoneName

#: The configured name becomes the alert's `alertname`: a Prometheus metric-style name.
ALERT_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
LabelName = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")]
Query = Annotated[str, Field(min_length=1)]
Severity = Literal["critical", "high", "medium", "low"]
#: Labels Tocsin sets itself on a preventive alert: a static label may not override them.
RESERVED_LABELS = frozenset({"alertname", "severity", "tocsin_preventive", "__name__"})


def _check_template(text: str | None) -> None:
    if text is None:
        return
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        raise ValueError(f"summary: not a valid template ({exc}); use {{label}} or {{eta}} placeholders") from exc
    bad = [f for f in fields if not f.isidentifier()]
    if bad:
        raise ValueError(f"summary: placeholders must be plain names, not {bad[0]!r}")


def _check_labels(labels: dict[str, str]) -> None:
    clash = sorted(RESERVED_LABELS & labels.keys())
    if clash:
        raise ValueError(f"labels: {clash[0]!r} is set by Tocsin and cannot be given")


class ForecastConfig(Strict):
    """One resource family to forecast, one alert (and incident) per series the query returns."""

    #: The alertname of its preventive alerts, e.g. TocsinForecastPVCFull (unique among forecasts and baselines).
    name: str = Field(pattern=ALERT_NAME)
    #: exhaustion: a used fraction of capacity will cross `threshold`; countdown: `usage` already returns the
    #: seconds left until a deadline (certificate expiry), warned about when below `horizon`.
    kind: Literal["exhaustion", "countdown"] = "exhaustion"
    #: PromQL of the usage, one series per resource (countdown: seconds left).
    usage: Query | None = None
    #: PromQL of the capacity with the same labels as `usage` (the fraction is usage / capacity) ...
    capacity: Query | None = None
    #: ... or a fixed capacity (queue backlog against its limit) ...
    limit: float | None = Field(default=None, gt=0)
    #: ... or, instead of usage and capacity, PromQL that is already the used fraction (0..1).
    fraction: Query | None = None
    #: The fraction whose crossing is forecast.
    threshold: float = Field(default=0.9, gt=0, le=1)
    #: Warn when the forecast crossing (or the deadline) is this close.
    horizon: Duration = timedelta(hours=24)
    #: Severity `high` when the crossing is this close; otherwise `severity`.
    high_within: Duration = timedelta(hours=6)
    severity: Severity = "medium"
    #: How much history one forecast reads (the method uses at most 7 days).
    history: Duration = timedelta(days=7)
    #: Resolution of the history read from Prometheus.
    step: Duration = timedelta(minutes=5)
    #: Consecutive evaluations that must agree to open, and to resolve (also after the series disappeared).
    sustain: int = Field(default=3, ge=1, le=100)
    #: Static labels added to the alert (team, service: routing).
    labels: dict[LabelName, str] = {}
    #: Template of the summary annotation: {label} of the series, {eta} (~7 h), {eta_clock} (03:40 UTC),
    #: {interval} (5-9 h), {threshold} (90 %), {level} (81 %), {name}. Default: generic.
    summary: str | None = None

    @model_validator(mode="after")
    def _checks(self) -> Self:
        if self.kind == "countdown":
            if self.usage is None or any(x is not None for x in (self.capacity, self.limit, self.fraction)):
                raise ValueError("a countdown gives `usage` (PromQL of the seconds left) and no "
                                 "capacity, limit or fraction")
        else:
            given = sum(x is not None for x in (self.capacity, self.limit, self.fraction))
            if given != 1 or (self.fraction is None) == (self.usage is None):
                raise ValueError("give `usage` with exactly one of `capacity` or `limit`, or `fraction` alone")
        if self.high_within > self.horizon:
            raise ValueError("high_within must not exceed horizon")
        if self.horizon <= timedelta(0) or self.step <= timedelta(0):
            raise ValueError("horizon and step must be positive")
        if self.kind == "exhaustion" and self.history < timedelta(days=1):
            raise ValueError("history must be at least 1d (no forecast before 24 h of data)")
        _check_labels(self.labels)
        _check_template(self.summary)
        return self

    def query(self) -> str:
        """The PromQL whose series are forecast: the used fraction, or the seconds left of a countdown."""
        if self.fraction is not None:
            return self.fraction
        assert self.usage is not None
        if self.capacity is not None:
            return f"({self.usage}) / ({self.capacity})"
        if self.limit is not None:
            return f"({self.usage}) / {self.limit:g}"
        return self.usage


class BaselineConfig(Strict):
    """A business rate judged against the same local hour of previous weeks."""

    #: The alertname of its preventive alerts, e.g. TocsinBaselineOrdersDrop.
    name: str = Field(pattern=ALERT_NAME)
    #: PromQL of the rate (orders per hour), one series per business stream.
    query: Query
    #: The baseline: the median of the same wall-clock time of this many previous weeks.
    weeks: int = Field(default=4, ge=2, le=12)
    #: Nothing is judged while both the value and the expected value are below this volume.
    floor: float = Field(default=0.0, ge=0)
    #: A drop: the value below `drop` x expected (0.5: half). Null: no factor bound for drops.
    drop: float | None = Field(default=0.5, gt=0, lt=1)
    #: A surge: the value above `surge` x expected. Null: no factor bound for surges.
    surge: float | None = Field(default=2.0, gt=1)
    #: Robust z: |value - median| / (1.4826 x MAD) above this is abnormal. With a factor as well, both must hold.
    z: float | None = Field(default=None, gt=0)
    #: Consecutive evaluations that must agree to open, and to resolve: one odd point never pages.
    sustain: int = Field(default=3, ge=1, le=100)
    #: Dates (YYYY-MM-DD, local) left out of the baseline and not judged.
    holidays: list[date] = []
    #: Time zone of "the same hour" (DST: the same wall-clock hour of previous weeks).
    timezone: TimeZoneName = "UTC"
    #: Resolution of the history read from Prometheus (also how close a past sample must be to its hour).
    step: Duration = timedelta(minutes=5)
    labels: dict[LabelName, str] = {}
    severity: Severity = "medium"

    @model_validator(mode="after")
    def _checks(self) -> Self:
        if self.drop is None and self.surge is None and self.z is None:
            raise ValueError("give at least one of drop, surge or z")
        if self.step <= timedelta(0):
            raise ValueError("step must be positive")
        _check_labels(self.labels)
        return self


class PreventionConfig(Strict):
    #: How often the leader evaluates every forecast and baseline.
    interval: Duration = timedelta(minutes=5)
    forecasts: list[ForecastConfig] = []
    baselines: list[BaselineConfig] = []

    @model_validator(mode="after")
    def _checks(self) -> Self:
        if self.interval < timedelta(seconds=10):
            raise ValueError("interval must be at least 10s")
        names = [f.name for f in self.forecasts] + [b.name for b in self.baselines]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"name {twice[0]!r} is used twice (it is the alertname of its incidents)")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.forecasts or self.baselines)
