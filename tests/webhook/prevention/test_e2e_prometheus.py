"""End to end against a real Prometheus whose TSDB holds backfilled history (promtool create-blocks-from
openmetrics): the service's own tick, with an injected clock, opens a preventive incident for a PVC filling up,
none for a log-rotation sawtooth, one for an orders-per-hour collapse against the same hour of previous weeks,
and resolves the PVC's once the history stops predicting exhaustion."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.clock import FakeClock
from tests.support.harness import make_config, start_harness
from tests.support.procs import Proc, backfill, start_prometheus
from webhook.app import tick
from webhook.history import History
from webhook.incidents.tables import alerts, incidents
from webhook.prevention.worker import Forecaster

pytestmark = [pytest.mark.e2e]

STEP = 300
HOUR, DAY, WEEK = 3600, 86400, 7 * 86400
#: the last sample: an hour before the wall clock, on the 5 min grid (the TSDB's head stays empty)
END = (int(datetime.now(UTC).timestamp()) // STEP - 12) * STEP
T2 = END - 15 * 60  # phase B: three rounds, T2 .. END - 5 min
CLEANUP = T2 - 3 * HOUR  # the PVC is cleaned up (0.3 full) and stays flat
T1 = CLEANUP - HOUR  # phase A: three rounds while the PVC fills at 1 point per hour
COLLAPSE = T2 - 30 * 60  # orders fall to 5 % of normal


def _fill(t: int) -> float:
    return 0.8 + 0.01 * (t - T1) / HOUR if t < CLEANUP else 0.3


def _sawtooth(t: int) -> float:  # rotated every 6 h, peaks at 0.7: never crosses 0.9
    return 0.3 + 0.4 * ((t % (6 * HOUR)) / (6 * HOUR))


def _orders(t: int, rnd: random.Random) -> float:
    at = datetime.fromtimestamp(t, UTC)
    rate = 120.0 if 8 <= at.hour < 20 else 20.0
    rate *= 0.6 if at.weekday() >= 5 else 1.0
    rate *= rnd.uniform(0.95, 1.05)
    return rate * 0.05 if t >= COLLAPSE else rate


def _family(name: str, series: list[tuple[str, list[int], Callable[[int], float]]]) -> list[str]:
    lines = [f"# TYPE {name} gauge"]
    for labels, times, f in series:
        lines += [f"{name}{{{labels}}} {f(t):.6g} {t}" for t in times]
    return lines


def history_text() -> str:
    rnd = random.Random(12)
    pvc = list(range(T1 - 2 * DAY - HOUR, END + 1, STEP))
    # orders: the current hours and the same hours of the last four weeks (fewer blocks to write and load)
    orders = [t for k in range(4, -1, -1) for t in range(T1 - k * WEEK - HOUR, END - k * WEEK + 1, STEP)]
    cap = 100e9
    db1 = 'namespace="db",persistentvolumeclaim="data-db-1"'
    logs = 'namespace="db",persistentvolumeclaim="logs-db-1"'
    noise = {t: rnd.uniform(-0.002, 0.002) for t in pvc}
    lines = _family("kubelet_volume_stats_used_bytes", [(db1, pvc, lambda t: (_fill(t) + noise[t]) * cap),
                                                        (logs, pvc, lambda t: _sawtooth(t) * cap)])
    lines += _family("kubelet_volume_stats_capacity_bytes", [(db1, pvc, lambda t: cap), (logs, pvc, lambda t: cap)])
    lines += _family("shop_orders_per_hour", [('shop="de"', orders, lambda t: _orders(t, rnd))])
    return "\n".join([*lines, "# EOF", ""])


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    work = tmp_path_factory.mktemp("prometheus")
    backfill(history_text(), work / "data")
    proc = start_prometheus(work, data_dir=work / "data", retention="1y")
    try:
        yield proc
    finally:
        proc.stop()


async def _rounds(svc: Any, clock: FakeClock, start: int) -> None:
    """Three evaluations 5 min apart through the service's own tick: leadership, the interval gate, Prometheus,
    the ingest batch."""
    for i in range(3):
        clock.current = datetime.fromtimestamp(start + i * STEP, UTC)
        await tick(svc)


def _incidents(db: Any) -> list[tuple[Any, Any]]:
    with db.engine.connect() as conn:
        rows = list(conn.execute(select(incidents).order_by(incidents.c.id)))
        eps = {r.incident_id: r for r in conn.execute(select(alerts).order_by(alerts.c.id))}
    return [(i, eps[i.id]) for i in rows]


async def test_preventive_incidents_from_backfilled_history(prometheus: Proc, tmp_path: Path) -> None:
    cfg = make_config(f"sqlite:///{tmp_path / 'tocsin.db'}", tmp_path, prometheus={"url": prometheus.url},
                      prevention={"interval": "5m", "forecasts": [{
                          "name": "TocsinForecastPVCFull", "usage": "kubelet_volume_stats_used_bytes",
                          "capacity": "kubelet_volume_stats_capacity_bytes", "history": "2d",
                          "labels": {"team": "dba"},
                          "summary": "PVC {persistentvolumeclaim} in {namespace} full in {eta} (ETA {eta_clock}, "
                                     "80 % interval {interval})"}],
                          "baselines": [{"name": "TocsinBaselineOrders", "query": "shop_orders_per_hour",
                                         "floor": 5, "labels": {"team": "shop"}}]})
    clock = FakeClock(datetime.fromtimestamp(T1, UTC))
    async for h in start_harness(cfg, clock):
        svc = h.app.state.svc
        assert any(isinstance(s, Forecaster) for s in svc.singletons)  # wired as a leader-only singleton
        await _rounds(svc, clock, T1)
        found = _incidents(svc.db)
        assert [(i.severity, a.labels["persistentvolumeclaim"]) for i, a in found] == [("medium", "data-db-1")]
        inc, alert = found[0]
        assert alert.labels == {"namespace": "db", "persistentvolumeclaim": "data-db-1", "team": "dba",
                                "alertname": "TocsinForecastPVCFull", "tocsin_preventive": "exhaustion",
                                "severity": "medium"}
        ann = alert.annotations
        assert ann["summary"].startswith("PVC data-db-1 in db full in ~10 h (ETA ")
        assert inc.title == f"TocsinForecastPVCFull: {ann['summary']}"
        eta = datetime.fromisoformat(ann["tocsin_forecast_eta"])
        true_eta = datetime.fromtimestamp(T1 + 10 * HOUR, UTC)  # 0.8 + 1 point/h reaches 0.9 after 10 h
        assert abs((eta - true_eta).total_seconds()) < 1.5 * HOUR
        assert ann["tocsin_forecast_eta_low"] <= ann["tocsin_forecast_eta"] <= ann["tocsin_forecast_eta_high"]
        assert alert.generator_url.startswith(prometheus.url + "/graph?g0.expr=")
        # the annotated query is valid PromQL selecting exactly this PVC's fraction
        probe = History(cfg.prometheus).range_sync(ann["tocsin_forecast_query"], datetime.fromtimestamp(T1, UTC),
                                                   datetime.fromtimestamp(T1 + HOUR, UTC), timedelta(minutes=5))
        assert [s.labels["persistentvolumeclaim"] for s in probe] == ["data-db-1"]
        assert abs(float(probe[0].v[0]) - 0.8) < 0.01

        await _rounds(svc, clock, T2)
        found = _incidents(svc.db)
        assert [(i.state, a.labels["alertname"]) for i, a in found] == [
            ("resolved", "TocsinForecastPVCFull"), ("triggered", "TocsinBaselineOrders")]
        orders = found[1][1]
        assert orders.labels == {"shop": "de", "team": "shop", "alertname": "TocsinBaselineOrders",
                                 "tocsin_preventive": "baseline", "severity": "medium"}
        assert orders.annotations["tocsin_baseline_direction"] == "drop"
        expected = float(orders.annotations["tocsin_baseline_expected"])
        assert expected in (pytest.approx(120, rel=0.06), pytest.approx(20, rel=0.06),
                            pytest.approx(72, rel=0.06), pytest.approx(12, rel=0.06))
        assert float(orders.annotations["tocsin_baseline_low"]) == pytest.approx(expected / 2)
        assert "below the usual" in orders.annotations["summary"]
        # all four past weeks came back from the backfilled blocks (none lost to retention)
        assert orders.annotations["description"].startswith("Median of the same local time of the last 4 weeks")
