"""Incident -> graph without Prometheus: the alert picked, its own series kept, forecasts with their interval."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import numpy as np

from tests.webhook.graphs.pixels import decode, matches
from webhook.config.graphs import GraphsConfig
from webhook.graphs.maker import Graph, GraphMaker, NoGraph
from webhook.graphs.render import INTERVAL_COLOUR, PROJECTION_COLOUR, SERIES_COLOURS, THRESHOLD_COLOUR
from webhook.history import HistoryUnavailable, RangeSeries

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class History:
    """Answers range queries from a dict of query -> series; records what was asked."""

    def __init__(self, answers: dict[str, list[RangeSeries]] | None = None, down: bool = False) -> None:
        self.answers, self.down = answers or {}, down
        self.asked: list[tuple[str, datetime, datetime, timedelta]] = []

    async def range(self, query: str, start: datetime, end: datetime, step: timedelta) -> list[RangeSeries]:
        self.asked.append((query, start, end, step))
        if self.down:
            raise HistoryUnavailable("Prometheus at http://prom:9090 unreachable: ConnectionError")
        return self.answers.get(query, [])


def series(labels: dict[str, str], start: datetime, end: datetime, f: Any) -> RangeSeries:
    t = np.arange(start.timestamp(), end.timestamp() + 1, 60.0)
    return RangeSeries(labels, t, np.asarray(f(t), dtype=np.float64))


def incident(labels: dict[str, str], annotations: dict[str, str], url: str = "",
             starts: datetime = NOW - timedelta(hours=2)) -> dict[str, Any]:
    alert = {"status": "firing", "labels": labels, "annotations": annotations, "starts_at": starts.isoformat(),
             "ends_at": None, "generator_url": url}
    return {"labels": labels, "annotations": annotations, "alerts": [alert]}


def maker(history: History, **cfg: Any) -> GraphMaker:
    """In a worker thread (graphs.isolate off): the render process is the e2e tests' (test_pages.py)."""
    return GraphMaker(GraphsConfig(isolate=False, **cfg), history, lambda: NOW, tz=UTC)


async def test_the_window_is_the_alert_age_plus_a_fifth_within_bounds() -> None:
    h = History()
    url = "http://prom/graph?g0.expr=" + quote("up == 0")
    await maker(h).build(incident({"alertname": "Down"}, {}, url, starts=NOW - timedelta(hours=2)))
    await maker(h).build(incident({"alertname": "Down"}, {}, url, starts=NOW - timedelta(minutes=5)))
    await maker(h).build(incident({"alertname": "Down"}, {}, url, starts=NOW - timedelta(days=3)))
    assert [(q, NOW - s, e, st) for q, s, e, st in h.asked] == [
        ("up{}", timedelta(hours=2, minutes=24), NOW, timedelta(seconds=22)),
        ("up{}", timedelta(hours=1), NOW, timedelta(seconds=9)),  # graphs.min_window
        ("up{}", timedelta(hours=24), NOW, timedelta(seconds=216))]  # graphs.max_window


async def test_only_the_alerts_own_series_and_a_moving_threshold() -> None:
    start = NOW - timedelta(hours=1)
    expr = "used_bytes / size_bytes > limit_ratio"
    h = History({
        "used_bytes{} / size_bytes{}": [series({"pvc": "data"}, start, NOW, lambda t: 0.5 + 0.0 * t),
                                        series({"pvc": "logs"}, start, NOW, lambda t: 0.1 + 0.0 * t)],
        "limit_ratio{}": [series({"pvc": "data"}, start, NOW, lambda t: 0.3 + 0.0 * t)],
    })
    got = await maker(h).build(incident({"alertname": "Full", "pvc": "data"}, {},
                                        "http://prom/graph?g0.expr=" + quote(expr)))
    assert isinstance(got, Graph)
    assert "threshold > limit_ratio{}" in got.alt and got.filename == "Full-graph.png"
    px = decode(got.png)
    assert matches(px, SERIES_COLOURS[0]).sum() > 300  # pvc=data
    assert matches(px, SERIES_COLOURS[1]).sum() == 0  # pvc=logs is not this alert's
    assert matches(px, THRESHOLD_COLOUR).sum(axis=1).max() > 150  # one dashed row across


async def test_prometheus_down_is_transient_and_unplottable_is_not() -> None:
    url = "http://prom/graph?g0.expr=" + quote("x > 1")
    down = await maker(History(down=True)).build(incident({"alertname": "X"}, {}, url))
    assert isinstance(down, NoGraph) and down.transient and down.plottable
    assert down.reason.startswith("Prometheus unreachable: Prometheus at http://prom:9090")
    empty = await maker(History()).build(incident({"alertname": "X"}, {}, url))
    assert isinstance(empty, NoGraph) and not empty.transient and "no samples of x{}" in empty.reason
    absent = await maker(History()).build(incident({"alertname": "X"}, {},
                                                   "http://prom/graph?g0.expr=" + quote("absent(up)")))
    assert isinstance(absent, NoGraph) and absent.plottable and "absent" in absent.reason
    other = await maker(History()).build(incident({"alertname": "X"}, {}, "https://grafana/alert/1"))
    assert isinstance(other, NoGraph) and not other.plottable


def forecast_annotations(**over: str) -> dict[str, str]:
    ann = {"tocsin_forecast_query": "pvc_used_ratio", "tocsin_forecast_threshold": "0.9",
           "tocsin_forecast_eta": "2026-11-30T15:00:00Z", "tocsin_forecast_eta_low": "2026-11-30T14:00:00Z",
           "tocsin_forecast_eta_high": "2026-11-30T17:00:00Z", "tocsin_forecast_level": "0.81"}
    return {**ann, **over}


async def test_a_forecast_shows_history_projection_and_interval() -> None:
    start = NOW - timedelta(hours=2, minutes=24)
    h = History({"pvc_used_ratio": [series({"pvc": "data"}, start, NOW,
                                           lambda t: 0.6 + 0.2 * (t - t[0]) / (t[-1] - t[0]))]})
    labels = {"alertname": "PVCFillingUp", "tocsin_preventive": "exhaustion", "pvc": "data"}
    got = await maker(h).build(incident(labels, forecast_annotations()))
    assert isinstance(got, Graph)
    assert got.title == "PVCFillingUp · forecast" and got.filename == "PVCFillingUp-forecast.png"
    assert "around Mon 15:00" in got.alt and "Mon 14:00 to Mon 17:00" in got.alt
    px = decode(got.png)
    assert matches(px, PROJECTION_COLOUR).sum() > 100
    band = matches(px, INTERVAL_COLOUR, 12).mean(axis=0)  # columns: the interval is a band to the right
    covered = np.flatnonzero(band > 0.3)
    assert covered.size > 50 and covered.min() > 400  # after "now" (the history takes the left part)
    assert matches(px, THRESHOLD_COLOUR).sum() > 300


async def test_an_unbounded_interval_reaches_the_edge_and_bad_annotations_say_so() -> None:
    start = NOW - timedelta(hours=2)
    h = History({"pvc_used_ratio": [series({}, start, NOW, lambda t: 0.7 + 0.0 * t)]})
    labels = {"alertname": "PVCFillingUp", "tocsin_preventive": "exhaustion"}
    got = await maker(h).build(incident(labels, forecast_annotations(tocsin_forecast_eta_high="")))
    assert isinstance(got, Graph) and "to unbounded" in got.alt
    band = matches(decode(got.png), INTERVAL_COLOUR, 12).mean(axis=0)
    assert band[760:770].min() > 0.3  # to the right edge of the plot
    bad = await maker(h).build(incident(labels, forecast_annotations(tocsin_forecast_threshold="ninety")))
    assert isinstance(bad, NoGraph) and "forecast annotations unreadable" in bad.reason


def test_the_render_process_runs_at_the_lowest_priority_from_its_start() -> None:
    """Reniced by the service as soon as it is spawned, before its interpreter has imported anything."""
    m = GraphMaker(GraphsConfig(), History(), lambda: NOW, tz=UTC)
    try:
        pool = m.start()
        pids = list(pool._processes)  # the pool's worker processes
        assert len(pids) == 1 and os.getpriority(os.PRIO_PROCESS, pids[0]) == 19
        assert pool.submit(os.getpid).result(timeout=60) == pids[0]  # it is the process that renders
    finally:
        m.close()
