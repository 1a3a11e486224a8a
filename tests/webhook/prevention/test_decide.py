"""Prevention decisions (pure): debounce, open/update/severity change/resolve, leader change, skipped forecasts;
and the alert contract of one evaluated series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from webhook.config.prevention import BaselineConfig, ForecastConfig
from webhook.history import RangeSeries
from webhook.prevention.decide import WARN, Eval, Held, Plan, Track, moved, plan, step
from webhook.prevention.evaluate import (
    clock,
    evaluate_baseline,
    evaluate_forecast,
    fingerprint,
    human,
    interval,
    restricted,
)

NOW = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
NAME = "TocsinForecastPVCFull"
PVC = {"namespace": "db", "persistentvolumeclaim": "data-db-1"}


def ev(eta_h: float | None, severity: str = "medium", fp: str = "tp-a") -> Eval:
    labels = {**PVC, "alertname": NAME, "tocsin_preventive": "exhaustion", "severity": severity}
    if eta_h is None:
        return Eval(fp, NAME, None, labels=labels)
    eta = NOW + timedelta(hours=eta_h)
    annotations = {"summary": f"full in ~{eta_h:g} h", "tocsin_forecast_eta": eta.isoformat()}
    return Eval(fp, NAME, WARN, True, labels, annotations, "http://prom/graph", eta)


def held(e: Eval, starts: datetime = NOW - timedelta(hours=1), open_: bool = True) -> Held:
    return Held(e.fingerprint, starts, 7, open_, e.labels, e.annotations, e.generator_url)


def rounds(evals: list[Eval | None], k: int = 3) -> tuple[list[Plan], list[Held]]:
    """Run plan() round after round, keeping the held alerts as the ingest batch would."""
    memory: dict[str, Track] = {}
    stored: dict[str, Held] = {}
    plans = []
    for i, e in enumerate(evals):
        now = NOW + timedelta(minutes=5 * i)
        p = plan({NAME: [e] if e is not None else []}, {NAME: k}, stored.values(), memory, now)
        for h in p.resolve:
            stored.pop(h.fingerprint, None)
        for f in p.fire:
            stored[f.fingerprint] = Held(f.fingerprint, f.starts_at, 7, True, f.labels, f.annotations, f.generator_url)
        memory = p.memory
        plans.append(p)
    return plans, list(stored.values())


def test_debounce_switches_after_k_agreeing_rounds() -> None:
    t = Track(NAME)
    for _ in range(2):
        t = step(t, WARN, True, 3)
    assert t.state is None and t.run == 2
    t = step(t, WARN, True, 3)
    assert t.state == WARN
    t = step(step(t, None, True, 3), WARN, True, 3)  # one normal round in between: nothing
    assert t.state == WARN and t.run == 0
    assert step(t, None, False, 3) == t  # not judged: held


def test_opens_once_after_sustained_warnings_and_updates_without_reopening() -> None:
    plans, stored = rounds([ev(10), ev(10), ev(10), ev(9.9), ev(9.8)])
    assert [len(p.fire) for p in plans] == [0, 0, 1, 1, 1]
    starts = {f.starts_at for p in plans for f in p.fire}
    assert len(starts) == 1  # the same episode: the later fires only update its annotations
    assert [len(p.resolve) for p in plans] == [0] * 5
    assert not [e for p in plans for e in p.events]  # moved by 1-2 %: no timeline entry
    assert len(stored) == 1


def test_a_single_warning_never_opens() -> None:
    plans, stored = rounds([ev(10), ev(None), ev(10), ev(None), ev(None)])
    assert not any(p.fire for p in plans) and not stored


def test_eta_moving_more_than_20_percent_is_on_the_timeline_once() -> None:
    plans, _ = rounds([ev(20), ev(20), ev(20), ev(19.9), ev(14), ev(13.9)])
    kinds = [[k for _, k, _ in p.events] for p in plans]
    assert kinds == [[], [], [], [], ["forecast_moved"], []]
    detail = plans[4].events[0][2]
    assert detail["message"].startswith("forecast moved: ETA 2026-12-02T10:00:00Z (was 2026-12-02T16:00:00Z)")


def test_severity_change_is_a_new_episode_of_the_same_fingerprint_fired_before_the_old_ends() -> None:
    plans, stored = rounds([ev(8), ev(8), ev(8), ev(5.5, "high")])
    last = plans[-1]
    assert [f.labels["severity"] for f in last.fire] == ["high"]
    assert [h.labels["severity"] for h in last.resolve] == ["medium"]
    assert last.fire[0].fingerprint == last.resolve[0].fingerprint
    assert last.fire[0].starts_at > last.resolve[0].starts_at
    assert [k for _, k, _ in last.events] == ["forecast_moved"]
    assert last.events[0][2]["severity"] == "high" and last.events[0][2]["previous_severity"] == "medium"
    assert [h.labels["severity"] for h in stored] == ["high"]


def test_resolves_after_k_clear_rounds_and_after_k_empty_rounds() -> None:
    plans, stored = rounds([ev(8), ev(8), ev(8), ev(None), ev(None), ev(None)])
    assert [len(p.resolve) for p in plans] == [0, 0, 0, 0, 0, 1] and not stored
    plans, stored = rounds([ev(8), ev(8), ev(8), None, None, None])
    assert [len(p.resolve) for p in plans] == [0, 0, 0, 0, 0, 1] and not stored
    assert plans[-1].events[0][2]["message"] == "series no longer returned by the query"
    assert plans[-1].memory == {}


def test_a_skipped_forecast_changes_nothing() -> None:
    e = ev(8)
    memory = {e.fingerprint: Track(NAME, WARN, 0, WARN, e.eta, "medium")}
    p = plan({}, {NAME: 3}, [held(e)], memory, NOW)  # Prometheus failed: NAME not evaluated
    assert p.fire == [] and p.resolve == [] and p.events == [] and p.memory == memory


def test_after_a_leader_change_an_open_alert_counts_as_warning() -> None:
    e = ev(8)
    p = plan({NAME: [e]}, {NAME: 3}, [held(e)], {}, NOW)  # fresh memory, the database says firing
    assert p.fire == [] and p.resolve == []  # no re-open, no resolve: it goes on warning
    assert p.memory[e.fingerprint].state == WARN
    p = plan({NAME: [ev(None)]}, {NAME: 3}, [held(e)], {}, NOW)
    assert p.resolve == []  # one clear round is not enough to resolve


def test_a_human_resolved_incident_is_not_reopened_while_the_forecast_warns() -> None:
    e = ev(8)
    memory = {e.fingerprint: Track(NAME, WARN, 0, WARN, e.eta, "medium")}
    p = plan({NAME: [ev(4, "high")]}, {NAME: 3}, [held(e, open_=False)], memory, NOW)
    assert p.fire == [] and p.resolve == []


def test_an_alert_of_a_removed_forecast_resolves() -> None:
    e = ev(8)
    p = plan({}, {}, [held(e)], {}, NOW)
    assert p.resolve == [held(e)] and p.events[0][1] == "forecast_cleared"


def test_moved() -> None:
    eta = NOW + timedelta(hours=10)
    assert not moved(eta, eta + timedelta(hours=1.9), NOW)
    assert moved(eta, eta - timedelta(hours=2.1), NOW)
    assert moved(None, eta, NOW) and not moved(None, None, NOW)


# --- one series -> one alert ---------------------------------------------------------------------------

def fill(hours: float = 48, to: float = 0.8, step_s: float = 300) -> RangeSeries:
    t = np.arange(NOW.timestamp() - hours * 3600, NOW.timestamp() + 1, step_s)
    v = np.linspace(to - 0.01 * hours, to, len(t))
    return RangeSeries({"__name__": "x", **PVC}, t, v)


PVC_FORECAST = ForecastConfig(name=NAME, usage="kubelet_volume_stats_used_bytes",
                              capacity="kubelet_volume_stats_capacity_bytes", labels={"team": "dba"},
                              summary="PVC {persistentvolumeclaim} full in {eta} (ETA {eta_clock}, 80 % interval "
                                      "{interval})")


def test_exhaustion_alert_contract() -> None:
    e = evaluate_forecast(PVC_FORECAST, fill(), NOW, "http://prom:9090/")
    assert e is not None and e.signal == WARN and e.eta is not None
    assert e.labels == {**PVC, "team": "dba", "alertname": NAME, "tocsin_preventive": "exhaustion",
                        "severity": "medium"}  # 10 h left: above high_within (6 h)
    a = e.annotations
    assert a["summary"] == "PVC data-db-1 full in ~10 h (ETA 06:00 UTC, 80 % interval 10 h)"
    assert a["tocsin_forecast_eta"] == "2026-12-02T06:00:00Z"
    assert a["tocsin_forecast_threshold"] == "0.9" and a["tocsin_forecast_level"] == "0.8000"
    assert a["tocsin_forecast_query"] == (
        "((kubelet_volume_stats_used_bytes) / (kubelet_volume_stats_capacity_bytes)) and on(namespace, "
        'persistentvolumeclaim) label_replace(label_replace(vector(1), "namespace", "db", "", ""), '
        '"persistentvolumeclaim", "data-db-1", "", "")')
    assert set(a) >= {"description", "tocsin_forecast_eta_low", "tocsin_forecast_eta_high"}
    url = urlsplit(e.generator_url)
    assert url.path == "/graph" and parse_qs(url.query)["g0.expr"] == [a["tocsin_forecast_query"]]
    urgent = evaluate_forecast(PVC_FORECAST, fill(to=0.86), NOW, "http://prom:9090")
    assert urgent is not None and urgent.labels["severity"] == "high"
    assert urgent.fingerprint == e.fingerprint  # severity is not part of the identity


def test_no_trend_no_alert_and_a_stale_series_is_absent() -> None:
    flat = RangeSeries(PVC, fill().t, np.full(len(fill().t), 0.5))
    e = evaluate_forecast(PVC_FORECAST, flat, NOW, "http://prom")
    assert e is not None and e.signal is None
    assert evaluate_forecast(PVC_FORECAST, fill(), NOW + timedelta(hours=1), "http://prom") is None


def test_countdown() -> None:
    cfg = ForecastConfig(name="TocsinCertificateExpiry", kind="countdown",
                         usage="probe_ssl_earliest_cert_expiry - time()", horizon="14d", high_within="3d")
    t = np.arange(NOW.timestamp() - 3600, NOW.timestamp() + 1, 300)
    series = RangeSeries({"instance": "https://shop"}, t, 5 * 86400 - (t - t[0]) + 3600)  # 5 days left now
    e = evaluate_forecast(cfg, series, NOW, "http://prom")
    assert e is not None and e.signal == WARN and e.labels["tocsin_preventive"] == "countdown"
    assert e.annotations["summary"] == "instance=https://shop: deadline in ~5 d (Dec 06 20:00 UTC)"
    assert e.annotations["tocsin_forecast_eta"] == "2026-12-06T20:00:00Z"
    assert e.labels["severity"] == "medium"


def test_baseline_alert_contract() -> None:
    cfg = BaselineConfig(name="TocsinBaselineOrders", query="sum(rate(orders_total[1h])) * 3600", sustain=3)
    t = np.arange(NOW.timestamp() - 5 * 7 * 86400, NOW.timestamp() + 1, 300.0)
    v = np.full(len(t), 120.0)
    v[-3:] = 12.0
    e = evaluate_baseline(cfg, RangeSeries({}, t, v), NOW, "http://prom")
    assert e is not None and e.signal == "drop"
    a = e.annotations
    assert (a["tocsin_baseline_expected"], a["tocsin_baseline_low"], a["tocsin_baseline_high"],
            a["tocsin_baseline_direction"]) == ("120", "60", "240", "drop")
    assert a["tocsin_baseline_query"] == cfg.query  # a single unlabelled series: the query itself
    assert a["summary"] == "TocsinBaselineOrders at 12, 90 % below the usual 120 for Tue 20:00 UTC"
    assert e.labels == {"alertname": "TocsinBaselineOrders", "tocsin_preventive": "baseline", "severity": "medium"}


@pytest.mark.parametrize(("s", "text"), [(45 * 60, "45 min"), (7 * 3600, "7 h"), (3 * 86400, "3 d")])
def test_human_units(s: float, text: str) -> None:
    assert human(s) == text


def test_interval_and_clock_and_fingerprint() -> None:
    assert interval(5 * 3600, 9 * 3600) == "5-9 h"
    assert interval(40 * 60, 2 * 3600) == "40 min-2 h"
    assert interval(5 * 3600, float("inf")) == "5 h or more"
    assert interval(10 * 3600, 10.2 * 3600) == "10 h"
    assert clock(NOW + timedelta(hours=7, minutes=40), NOW) == "03:40 UTC"
    assert fingerprint({"a": "1", "severity": "high"}) == fingerprint({"a": "1", "severity": "medium"})
    assert fingerprint({"a": "1"}) != fingerprint({"a": "2"})
    assert restricted("up", {}) == "up"
    assert '"a\\"$$b"' in restricted("up", {"x": 'a"$b'})
