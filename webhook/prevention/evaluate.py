"""One series of a forecast or baseline -> an `Eval`: the alert it asks for, with the preventive label and
annotation contract (docs/prevention.md, "Preventive incidents"). Pure: history in, alert out."""

from __future__ import annotations

import hashlib
import math
import string
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from webhook.config.prevention import BaselineConfig, ForecastConfig
from webhook.history import RangeSeries
from webhook.incidents.model import PREVENTIVE_PREFIX, SEVERITY_RANK
from webhook.prevention.decide import WARN, Eval, iso
from webhook.trend import seasonal
from webhook.trend.exhaustion import Params, forecast

#: Fingerprints of preventive alerts start with this (Alertmanager's are 16 hex digits: never confused).
PREFIX = PREVENTIVE_PREFIX
#: Labels of the query's series that say nothing about the resource (left out of the generic summary).
_PLUMBING = frozenset({"__name__", "job", "prometheus", "endpoint", "service_monitor"})


def fingerprint(labels: Mapping[str, str]) -> str:
    """Stable over everything but severity: one alert (one incident) per resource, whatever its severity."""
    h = hashlib.sha256()
    for k in sorted(labels):
        if k != "severity":
            h.update(f"{k}\x00{labels[k]}\x00".encode())
    return PREFIX + h.hexdigest()[:24]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def restricted(query: str, labels: Mapping[str, str]) -> str:
    """`query` limited to the one series with these labels, valid PromQL whatever the query is (an `and on` with
    a one-sample vector carrying exactly those labels; label_replace on vector(1) sets them)."""
    names = sorted(k for k in labels if k != "__name__")
    if not names:
        return query
    vec = "vector(1)"
    for k in names:
        vec = f'label_replace({vec}, "{k}", {_quote(labels[k].replace("$", "$$"))}, "", "")'
    return f"({query}) and on({', '.join(names)}) {vec}"


def graph_url(prometheus_url: str, query: str) -> str:
    return f"{prometheus_url.rstrip('/')}/graph?g0.expr={quote(query, safe='')}"


def human(seconds: float) -> str:
    """7 h, 45 min, 3 d: the unit a person would say."""
    if seconds < 90 * 60:
        return f"{max(round(seconds / 60), 0)} min"
    if seconds < 48 * 3600:
        return f"{round(seconds / 3600)} h"
    return f"{round(seconds / 86400)} d"


def interval(low_s: float, high_s: float) -> str:
    """5-9 h; 40 min-2 h; 5 h or more (an unbounded upper end)."""
    if math.isinf(high_s):
        return f"{human(low_s)} or more"
    lo, hi = human(low_s), human(high_s)
    if lo == hi:  # a tight interval at this rounding
        return lo
    if lo.split()[1] == hi.split()[1]:
        return f"{lo.split()[0]}-{hi}"
    return f"{lo}-{hi}"


def clock(at: datetime, now: datetime) -> str:
    """03:40 UTC, with the date when it is not within the next 24 hours."""
    at = at.astimezone(UTC)
    return at.strftime("%H:%M UTC") if at - now < timedelta(hours=24) else at.strftime("%b %d %H:%M UTC")


def _resource(labels: Mapping[str, str], name: str) -> str:
    parts = [f"{k}={v}" for k, v in sorted(labels.items()) if k not in _PLUMBING]
    return ", ".join(parts) or name


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(template: str, fields: Mapping[str, Any]) -> str:
    return string.Formatter().vformat(template, (), _Fields(fields))


def _labels(name: str, kind: str, series: Mapping[str, str], static: Mapping[str, str],
            severity: str) -> dict[str, str]:
    own = {k: v for k, v in series.items() if k != "__name__"}
    return {**own, **static, "alertname": name, "tocsin_preventive": kind, "severity": severity}


def _severity(configured: str, urgent: bool) -> str:
    return "high" if urgent and SEVERITY_RANK[configured] < SEVERITY_RANK["high"] else configured


def _fresh(s: RangeSeries, now: datetime, step: timedelta) -> bool:
    """A series whose last sample is older than a step plus Prometheus' 5 min lookback is gone."""
    return len(s.t) > 0 and now.timestamp() - float(s.t[-1]) <= step.total_seconds() + 300


def evaluate_forecast(cfg: ForecastConfig, s: RangeSeries, now: datetime, prometheus_url: str) -> Eval | None:
    """The alert one series of a forecast asks for; None for a series gone stale (counted as absent)."""
    if not _fresh(s, now, cfg.step):
        return None
    own = {k: v for k, v in s.labels.items() if k != "__name__"}
    query = restricted(cfg.query(), own)
    base = _labels(cfg.name, cfg.kind, own, cfg.labels, cfg.severity)
    fp = fingerprint(base)
    if cfg.kind == "countdown":
        left = float(s.v[-1]) - (now.timestamp() - float(s.t[-1]))
        eta_s, low_s, high_s, level, threshold = left, left, left, f"{float(s.v[-1]):g}", "0"
        slope = None
    else:
        params = Params(horizon_s=cfg.horizon.total_seconds(), lookback_s=cfg.history.total_seconds(),
                        persistence=cfg.sustain)
        fc = forecast(s.t, s.v, threshold=cfg.threshold, params=params)
        if fc is None:
            return Eval(fp, cfg.name, None, labels=base)
        since = now.timestamp() - float(s.t[-1])  # the forecast is seen from the last sample
        eta_s, low_s, high_s = fc.eta_s - since, fc.low_s - since, fc.high_s - since
        level, threshold, slope = f"{fc.level:.4f}", f"{cfg.threshold:g}", fc.slope_per_h
    if eta_s > cfg.horizon.total_seconds():
        return Eval(fp, cfg.name, None, labels=base)
    eta_s, low_s = max(eta_s, 0.0), max(low_s, 0.0)
    severity = _severity(cfg.severity, eta_s <= cfg.high_within.total_seconds())
    labels = {**base, "severity": severity}
    eta = now + timedelta(seconds=eta_s)
    fields = {**own, **cfg.labels, "name": cfg.name, "resource": _resource(own, cfg.name), "eta": f"~{human(eta_s)}",
              "eta_clock": clock(eta, now), "interval": interval(low_s, high_s), "threshold": _pct(cfg.threshold),
              "level": _pct(float(level)) if cfg.kind == "exhaustion" else human(float(level))}
    annotations = {
        "summary": render(cfg.summary or _DEFAULT_SUMMARY[cfg.kind], fields),
        "description": _description(cfg, fields, slope),
        "tocsin_forecast_query": query,
        "tocsin_forecast_threshold": threshold,
        "tocsin_forecast_eta": iso(eta),
        "tocsin_forecast_eta_low": iso(now + timedelta(seconds=low_s)),
        "tocsin_forecast_eta_high": "" if math.isinf(high_s) else iso(now + timedelta(seconds=high_s)),
        "tocsin_forecast_level": level,
    }
    return Eval(fp, cfg.name, WARN, True, labels, annotations, graph_url(prometheus_url, query), eta)


_DEFAULT_SUMMARY = {
    "exhaustion": "{resource} reaches {threshold} in {eta} (ETA {eta_clock}, 80 % interval {interval})",
    "countdown": "{resource}: deadline in {eta} ({eta_clock})",
}


def _pct(x: float) -> str:
    return f"{x * 100:.0f} %"


def _description(cfg: ForecastConfig, f: Mapping[str, Any], slope_per_h: float | None) -> str:
    if cfg.kind == "countdown":
        return (f"{f['resource']}: the deadline is {f['eta_clock']}, {f['eta'].lstrip('~')} from now "
                f"(warned within {human(cfg.horizon.total_seconds())}). Query: {cfg.query()}")
    return (f"Forecast by Tocsin from {human(cfg.history.total_seconds())} of history: {f['resource']} is at "
            f"{f['level']} and rising {100 * (slope_per_h or 0.0):.2f} points per hour; it reaches {f['threshold']} "
            f"in {f['eta']} ({f['eta_clock']}, 80 % interval {f['interval']}). Severity high under "
            f"{human(cfg.high_within.total_seconds())}. Fraction: {cfg.query()}")


def rules(cfg: BaselineConfig) -> seasonal.Rules:
    return seasonal.Rules(weeks=cfg.weeks, floor=cfg.floor, drop=cfg.drop, surge=cfg.surge, z=cfg.z,
                          holidays=frozenset(cfg.holidays), tz=cfg.timezone,
                          tolerance_s=max(cfg.step.total_seconds(), 60.0))


def history_start(cfg: BaselineConfig, now: datetime) -> datetime:
    """Far enough back for the oldest week's same hour, DST included."""
    return now - timedelta(weeks=cfg.weeks, hours=2) - cfg.step


def evaluate_baseline(cfg: BaselineConfig, s: RangeSeries, now: datetime, prometheus_url: str) -> Eval | None:
    if not _fresh(s, now, cfg.step):
        return None
    own = {k: v for k, v in s.labels.items() if k != "__name__"}
    labels = _labels(cfg.name, "baseline", own, cfg.labels, cfg.severity)
    fp = fingerprint(labels)
    v = seasonal.judge(s.t, s.v, now, rules(cfg))
    if v.direction is None or v.baseline is None:
        return Eval(fp, cfg.name, None, v.judged, labels)
    b = v.baseline
    query = restricted(cfg.query, own)
    change = v.value / b.expected - 1 if b.expected else math.inf
    zone = now.astimezone(ZoneInfo(cfg.timezone))
    who = f"{cfg.name} ({_resource(own, cfg.name)})" if _resource(own, "") else cfg.name
    summary = (f"{who} at {v.value:.4g}, {abs(change) * 100:.0f} % "
               f"{'below' if v.direction == 'drop' else 'above'} the usual {b.expected:.4g} for "
               f"{zone.strftime('%a %H:%M %Z')}")
    annotations = {
        "summary": summary,
        "description": (f"Median of the same local time of the last {b.weeks} weeks ({cfg.timezone}): "
                        f"{b.expected:.4g}, robust spread {b.spread:.3g}; normal between {b.low:.4g} and "
                        f"{b.high:.4g}; {cfg.sustain} consecutive evaluations agreed. Query: {cfg.query}"),
        "tocsin_baseline_query": query,
        "tocsin_baseline_expected": f"{b.expected:g}",
        "tocsin_baseline_low": _bound(b.low),
        "tocsin_baseline_high": _bound(b.high),
        "tocsin_baseline_direction": v.direction,
    }
    return Eval(fp, cfg.name, v.direction, True, labels, annotations, graph_url(prometheus_url, query))


def _bound(x: float) -> str:
    """A bound as a number; empty when that direction is not judged."""
    return "" if math.isinf(x) else f"{x:g}"
