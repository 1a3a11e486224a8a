"""The report as one call: the period from the user's words, each responder's time zone from the config, the
queries streamed into the accumulator, the figures out. Shared by `tocsin report` and GET /api/v1/report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from webhook.config import TocsinConfig
from webhook.config.types import parse_duration
from webhook.report.compute import Accumulator, Settings
from webhook.report.queries import Progress, read_history
from webhook.store.db import Connection

#: The longest period a report covers (a year and a bit): beyond, retention has usually deleted the history.
MAX_PERIOD = timedelta(days=400)


class PeriodError(ValueError):
    """The period the user asked for is not one (the message says why and how to write one)."""


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    def __str__(self) -> str:
        return f"{self.start.isoformat()} and {self.end.isoformat()}"


def _instant(text: str, what: str) -> datetime:
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
        value = datetime.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"{what} {text!r} is not a date or time: use e.g. 2026-11-01 or 2026-11-01T08:00:00Z")\
            from None
    if value.tzinfo is None:
        raise PeriodError(f"{what} {text!r} needs a time zone, e.g. 2026-11-01T08:00:00Z or +01:00")
    return value.astimezone(UTC)


def parse_period(now: datetime, since: str | None = None, start: str | None = None,
                 end: str | None = None) -> Period:
    """`since` (a duration back from now, default 30d) or `from`/`to` (dates or aware times; `to` defaults to now)."""
    if since is not None and (start is not None or end is not None):
        raise PeriodError("give either --since or --from/--to, not both")
    if start is None and end is not None:
        raise PeriodError("--to needs --from")
    if start is not None:
        p = Period(_instant(start, "--from"), _instant(end, "--to") if end is not None else now)
    else:
        try:
            back = parse_duration(since or "30d")
        except ValueError as exc:
            raise PeriodError(f"--since: {exc}") from None
        p = Period(now - back, now)
    if p.end <= p.start:
        raise PeriodError(f"the period is empty: {p.start.isoformat()} is not before {p.end.isoformat()}")
    if p.end - p.start > MAX_PERIOD:
        raise PeriodError(f"the period is longer than {MAX_PERIOD.days} days; give a shorter one")
    return p


def responder_zones(cfg: TocsinConfig) -> dict[str, str]:
    """Each responder's zone: `oncall.responders[].timezone` when set, else the zone of the first schedule
    (config order) with a layer they take part in (the layer's own zone if it has one), else UTC."""
    out: dict[str, str] = {}
    for r in cfg.oncall.responders:
        if "timezone" in r.model_fields_set:
            out[r.name] = r.timezone
            continue
        zone = next((la.timezone or s.timezone for s in cfg.oncall.schedules for la in s.layers
                     if r.name in la.participants), None)
        out[r.name] = zone or "UTC"
    return out


def build_report(conn: Connection, cfg: TocsinConfig, period: Period, team: str | None = None,
                 settings: Settings | None = None, progress: Progress | None = None) -> dict[str, Any]:
    acc = Accumulator(settings or Settings(), responder_zones(cfg))
    read_history(conn, acc, period.start, period.end, team, progress)
    return acc.finish(period.start, period.end, team)
