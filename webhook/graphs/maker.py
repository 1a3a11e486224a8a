"""One incident -> its graph: pick the alert, fetch its history from Prometheus, render (docs/graphs.md).

Which graph: the first firing alert (else the first alert) that is a forecast (label `tocsin_preventive`
"exhaustion" or "countdown", annotations `tocsin_forecast_*`) or that came from Prometheus (a generatorURL with
`g0.expr`). An incident without such an alert has no graph, and says why (`NoGraph.plottable` False:
nothing to say in the timeline, the alert did not come from Prometheus).

Graphs are cached for CACHE_SECONDS per incident (the Slack and e-mail follow-ups and the console share one
render; concurrent requests share one computation). Failures to reach Prometheus are not cached.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Protocol, TypeVar, runtime_checkable

from webhook.clock import Clock
from webhook.config.graphs import GraphsConfig
from webhook.graphs.expr import CannotPlot, PlotSpec, expression_from_url, own_series, plot_spec
from webhook.graphs.render import Chart, Line, render_png, worker_init
from webhook.history import HistoryUnavailable, RangeSeries
from webhook.incidents import queries
from webhook.incidents.model import NotFound
from webhook.store.db import Database

T = TypeVar("T")

CACHE_SECONDS = 60.0
#: Points per range query with `graphs.step: auto` (a 800 px wide graph shows no more).
AUTO_POINTS = 400
#: Labels that say which thing an alert is about, shown in the title in this order (at most three).
TITLE_LABELS = ("service", "namespace", "instance", "pod", "job", "node", "device", "mountpoint", "queue",
                "persistentvolumeclaim", "container", "channel")
PREVENTIVE_LABEL = "tocsin_preventive"
FORECAST = "tocsin_forecast_"
#: Preventive alerts drawn as forecasts (docs/prevention.md, "The preventive alert contract"); a countdown's
#: threshold is 0 seconds left.
FORECAST_KINDS = frozenset({"exhaustion", "countdown"})


class HistorySource(Protocol):
    """webhook.history.History's range query (the seam for tests and the benchmark)."""

    async def range(self, query: str, start: datetime, end: datetime, step: timedelta) -> list[RangeSeries]: ...


@runtime_checkable
class PortableHistory(HistorySource, Protocol):
    """A history whose blocking query can run in the render process (`portable`: it pickles, no test seam)."""

    portable: bool

    def range_sync(self, query: str, start: datetime, end: datetime, step: timedelta) -> list[RangeSeries]: ...


@dataclass(frozen=True, slots=True)
class Graph:
    png: bytes
    title: str
    alt: str  # what the graph shows, in words (Slack alt_txt, the e-mail's and the console's alt text)
    filename: str


@dataclass(frozen=True, slots=True)
class NoGraph:
    """Why an incident has no graph. `plottable`: its alerts came from Prometheus (worth a timeline line);
    `transient`: Prometheus did not answer (another attempt may succeed)."""

    reason: str
    plottable: bool = True
    transient: bool = False


class GraphMaker:
    def __init__(self, cfg: GraphsConfig, history: HistorySource, clock: Clock, tz: tzinfo | None = None) -> None:
        self.cfg, self._history, self._clock = cfg, history, clock
        #: Axis times are in the service's local zone (TZ of the process), as the people paged read clocks.
        self._tz = tz or datetime.now().astimezone().tzinfo or UTC
        self._cache: dict[int, tuple[float, Graph | NoGraph]] = {}
        self._inflight: dict[int, asyncio.Future[Graph | NoGraph]] = {}
        self._pool: ProcessPoolExecutor | None = None

    async def for_incident(self, db: Database, incident_id: int) -> Graph | NoGraph:
        """The incident's graph, cached briefly; NoGraph(plottable=False) for an unknown incident."""
        hit = self._cache.get(incident_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        running = self._inflight.get(incident_id)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[Graph | NoGraph] = asyncio.get_running_loop().create_future()
        self._inflight[incident_id] = future
        try:
            try:
                incident = await db.read(queries.get_incident, incident_id, 200)
            except NotFound:
                result: Graph | NoGraph = NoGraph(f"incident {incident_id} not found", plottable=False)
            else:
                result = await self.build(incident)
            if not (isinstance(result, NoGraph) and result.transient):
                self._cache = {k: v for k, v in self._cache.items() if v[0] > time.monotonic()}
                self._cache[incident_id] = (time.monotonic() + CACHE_SECONDS, result)
            future.set_result(result)
            return result
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # retrieved: a caller that shares it re-raises, nobody logs "never retrieved"
            raise
        finally:
            del self._inflight[incident_id]

    async def build(self, incident: Mapping[str, Any]) -> Graph | NoGraph:
        """The graph of an incident as `queries.get_incident` returns it (no cache)."""
        try:
            return await self._build(incident)
        except BrokenProcessPool:
            return NoGraph("the render process died (a new one starts with the next graph)", transient=True)

    async def _build(self, incident: Mapping[str, Any]) -> Graph | NoGraph:
        alert = _pick(incident)
        if alert is None:
            return NoGraph("no alert of this incident came from Prometheus", plottable=False)
        labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
        annotations = {str(k): str(v) for k, v in (alert.get("annotations") or {}).items()}
        if labels.get(PREVENTIVE_LABEL) in FORECAST_KINDS and annotations.get(FORECAST + "query"):
            return await self._forecast(alert, labels, annotations)
        expr = expression_from_url(str(alert.get("generator_url") or ""))
        assert expr is not None  # _pick chose it for having one
        spec = plot_spec(expr)
        if isinstance(spec, CannotPlot):
            return NoGraph(spec.reason)
        return await self._alert(alert, labels, spec)

    # --- the two kinds of graph -----------------------------------------------------------------------
    async def _alert(self, alert: Mapping[str, Any], labels: Mapping[str, str], spec: PlotSpec) -> Graph | NoGraph:
        starts, ends = _when(alert.get("starts_at")), _when(alert.get("ends_at"))
        now = self._clock()
        end = ends if ends is not None and starts is not None and starts < ends < now else now
        start, step = self._window(starts, end)
        try:
            found = await self._range(spec.query, start, end, step)
            lines, own = _lines(found, labels)
            limit: list[Line] = []
            if spec.threshold_query is not None:
                limit, _ = _lines(await self._range(spec.threshold_query, start, end, step), labels)
        except HistoryUnavailable as exc:
            return NoGraph(f"Prometheus unreachable: {exc}", transient=True)
        if not lines:
            return NoGraph(f"Prometheus has no samples of {spec.query[:200]} in the last {_span(end - start)}")
        title = _title(labels)
        chart = Chart(title=title, start=start, end=end, series=lines, threshold=spec.threshold,
                      threshold_lines=limit, threshold_label=spec.threshold_text,
                      firing=(starts, ends if ends is not None and ends < now else None) if starts else None,
                      note=None if own else "all series of the rule (none carries the alert's labels)", tz=self._tz)
        png = await self._render(chart)
        since = f"; firing since {starts.astimezone(self._tz):%H:%M %Z}" if starts else ""
        alt = (f"Graph of {spec.query} over the last {_span(end - start)}"
               + (f", threshold {spec.threshold_text}" if spec.threshold_text else "") + since)
        return Graph(png, title, alt[:1000], _filename(labels))

    async def _forecast(self, alert: Mapping[str, Any], labels: Mapping[str, str],
                        annotations: Mapping[str, str]) -> Graph | NoGraph:
        query = annotations[FORECAST + "query"]
        try:
            threshold = float(annotations.get(FORECAST + "threshold", ""))
            eta = _iso(annotations.get(FORECAST + "eta", ""))
        except ValueError as exc:
            return NoGraph(f"forecast annotations unreadable: {exc}")
        try:
            low = _iso(annotations.get(FORECAST + "eta_low", ""))
            high = _iso(annotations.get(FORECAST + "eta_high", ""))
        except ValueError as exc:
            return NoGraph(f"forecast interval unreadable: {exc}")
        now = self._clock()
        start, step = self._window(_when(alert.get("starts_at")), now)
        try:
            lines, own = _lines(await self._range(query, start, now, step), labels)
        except HistoryUnavailable as exc:
            return NoGraph(f"Prometheus unreachable: {exc}", transient=True)
        if not lines:
            return NoGraph(f"Prometheus has no samples of {query[:200]} in the last {_span(now - start)}")
        last = lines[0]
        t_last = datetime.fromtimestamp(float(last.t[-1]), UTC)
        projection = ((t_last, float(last.v[-1])), (eta, threshold)) if eta is not None else None
        level = annotations.get(FORECAST + "level", "")
        eta_text = f"{eta.astimezone(self._tz):%a %H:%M %Z}" if eta else "unknown"
        title = f"{_title(labels)} · forecast"
        note = f"{threshold:g} reached ~{eta_text}" + (f" (level {level})" if level else "") + \
            ("" if own else "; all series of the query")
        chart = Chart(title=title, start=start, end=now, series=lines[:1], threshold=threshold,
                      threshold_label=f"{threshold:g}", projection=projection,
                      interval=(low, high) if eta is not None else None, note=note, tz=self._tz)
        png = await self._render(chart)
        alt = (f"Forecast graph of {query} over the last {_span(now - start)}: threshold {threshold:g} reached "
               f"around {eta_text}, 80 % interval {_at(low, self._tz)} to {_at(high, self._tz)}")
        return Graph(png, title, alt[:1000], _filename(labels, "forecast"))

    async def _range(self, query: str, start: datetime, end: datetime, step: timedelta) -> list[RangeSeries]:
        """A range query; with graphs.isolate in the render process (see _render), else in a worker thread.

        Why there: the HTTP request and prometheus-api-client's DataFrame hold the GIL for milliseconds per query,
        which a page going out meanwhile waited for (bench/graphs.py, docs/benchmarks.md)."""
        history = self._history
        if not (self.cfg.isolate and isinstance(history, PortableHistory) and history.portable):
            return await history.range(query, start, end, step)
        return await self._in_process(history.range_sync, query, start, end, step)

    async def _render(self, chart: Chart) -> bytes:
        """The PNG, rendered in a child process of its own (graphs.isolate) or a worker thread.

        Why a process: matplotlib holds the GIL for most of a render (tens of ms), and a page that goes out
        meanwhile waits for it on the event loop; in a process of its own the render only takes a core.
        """
        size = (self.cfg.size.width, self.cfg.size.height)
        if not self.cfg.isolate:
            return await asyncio.to_thread(render_png, chart, *size)
        return await self._in_process(render_png, chart, *size)

    async def _in_process(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) in the render process."""
        pool = self.start()
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
        except BrokenProcessPool:
            self._pool = None  # the next graph starts a new one
            raise

    def start(self) -> ProcessPoolExecutor:
        """The render process, started now if not yet (the service starts it with itself, not with a page)."""
        if self._pool is None:
            # spawn, not fork: this process has threads (database, ingest) a forked child must not inherit
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_process_init)
            self._pool.submit(int)  # starts the process (and its initializer) without waiting for it
            # lowest CPU priority from now on, not only once its initializer runs: the interpreter's start and the
            # imports before it (~1 s of CPU) would otherwise compete with pages sent right after a restart
            for pid in getattr(self._pool, "_processes", None) or {}:
                with contextlib.suppress(OSError):
                    os.setpriority(os.PRIO_PROCESS, pid, 19)
            if not (isinstance(self._history, PortableHistory) and self._history.portable):
                # the range queries run here: pandas (prometheus-api-client's DataFrames, imported on first use:
                # 0.3 s of CPU under the GIL) now, not while the first graph's page is going out
                threading.Thread(target=importlib.import_module, args=(DATAFRAMES,),
                                 name="tocsin-graphs-warm-up", daemon=True).start()
        return self._pool

    def close(self) -> None:
        """Stop the render process (the service's shutdown)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _window(self, starts: datetime | None, end: datetime) -> tuple[datetime, timedelta]:
        """Alert age plus a fifth (the crossing stays in view), within graphs.min_window..max_window."""
        age = end - starts if starts is not None and starts < end else timedelta(0)
        window = min(max(age * 1.2, self.cfg.min_window), self.cfg.max_window)
        if self.cfg.step == "auto":
            step = timedelta(seconds=max(1, math.ceil(window.total_seconds() / AUTO_POINTS)))
        else:
            step = self.cfg.step
        return end - window, step


DATAFRAMES = "prometheus_api_client.metric_range_df"


def _process_init() -> None:
    """The render process: lowest CPU priority and fonts (worker_init), and pandas for the range queries."""
    worker_init()
    importlib.import_module(DATAFRAMES)


def _pick(incident: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The alert to draw: a forecast or a Prometheus alert, firing ones first; the incident itself as a last
    resort when it carries the forecast's labels and annotations (a preventive incident without alerts)."""
    alerts: Sequence[Mapping[str, Any]] = incident.get("alerts") or []
    ordered = sorted(alerts, key=lambda a: a.get("status") != "firing")
    for a in ordered:
        if (a.get("labels") or {}).get(PREVENTIVE_LABEL) in FORECAST_KINDS and \
                (a.get("annotations") or {}).get(FORECAST + "query"):
            return a
        if expression_from_url(str(a.get("generator_url") or "")):
            return a
    if (incident.get("labels") or {}).get(PREVENTIVE_LABEL) in FORECAST_KINDS and \
            (incident.get("annotations") or {}).get(FORECAST + "query"):
        return {"labels": incident["labels"], "annotations": incident["annotations"],
                "starts_at": incident.get("opened_at")}
    return None


def _lines(found: list[RangeSeries], alert_labels: Mapping[str, str]) -> tuple[list[Line], bool]:
    found = [s for s in found if len(s.t)]
    if not found:
        return [], True
    keep, own = own_series([s.labels for s in found], alert_labels)
    chosen = [found[i] for i in keep]
    varying = sorted({k for s in chosen for k, v in s.labels.items()
                      if k != "__name__" and any(o.labels.get(k) != v for o in chosen)})
    return [Line(", ".join(f"{k}={s.labels.get(k, '')}" for k in varying), s.t, s.v) for s in chosen], own


def _title(labels: Mapping[str, str]) -> str:
    shown = [f"{k}={labels[k]}" for k in TITLE_LABELS if labels.get(k)][:3]
    return " · ".join([labels.get("alertname", "alert"), *([", ".join(shown)] if shown else [])])


def _filename(labels: Mapping[str, str], suffix: str = "graph") -> str:
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in labels.get("alertname", "alert"))[:60]
    return f"{name}-{suffix}.png"


def _when(value: Any) -> datetime | None:
    """A stored time (datetime or ISO string); None for Alertmanager's "no end" (year 1) and missing ones."""
    if value is None or value == "":
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when if when.year >= 1971 else None


def _iso(value: str) -> datetime | None:
    """ISO 8601 UTC of a forecast annotation; empty: unbounded (None)."""
    if not value.strip():
        return None
    when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _at(when: datetime | None, tz: tzinfo) -> str:
    return f"{when.astimezone(tz):%a %H:%M}" if when else "unbounded"


def _span(d: timedelta) -> str:
    minutes = round(d.total_seconds() / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"

