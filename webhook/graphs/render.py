"""PNG graphs with matplotlib's Agg canvas: the alert's series, its threshold, the firing span; forecasts too.

Object-oriented matplotlib only (a Figure on a FigureCanvasAgg): pyplot keeps global state (current figure,
backend switching) that a service rendering from worker threads must not share. matplotlib's font and text
caches are not documented as thread-safe either, so renders are serialised by one lock; a render takes tens
of milliseconds (bench/graphs.py), far below a page's own latency, and never runs on the event loop.

Colours are fixed (PALETTE) so that tests can find the series, the threshold and the spans in the pixels, and so
that a graph reads the same in every page: series in blue first, the threshold dashed red, the firing span a
pale red band behind everything, a forecast's projection purple with its interval a pale purple band.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import cast

import numpy as np
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import Transform
from numpy.typing import NDArray

#: Series colours in order; a graph of one series uses the first.
SERIES_COLOURS = ("#1f6feb", "#bf8700", "#1a7f37", "#6639ba", "#0a3069", "#953800", "#57606a", "#cf222e")
THRESHOLD_COLOUR = "#d1242f"
FIRING_COLOUR = "#fde2e1"  # opaque, behind the grid and the lines
PROJECTION_COLOUR = "#8250df"
INTERVAL_COLOUR = "#ece4fb"
TEXT_COLOUR = "#1b1f24"
GRID_COLOUR = "#d8dee4"
PALETTE = {"series": SERIES_COLOURS[0], "threshold": THRESHOLD_COLOUR, "firing": FIRING_COLOUR,
           "projection": PROJECTION_COLOUR, "interval": INTERVAL_COLOUR, "text": TEXT_COLOUR}

DPI = 100
_LOCK = threading.Lock()
_FIGURES: dict[tuple[int, int], tuple[Figure, FigureCanvasAgg, Axes]] = {}
_EPOCH = float(mdates.date2num(datetime(1970, 1, 1, tzinfo=UTC)))  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Line:
    label: str
    t: NDArray[np.float64]  # epoch seconds
    v: NDArray[np.float64]


@dataclass(frozen=True)
class Chart:
    """Everything one graph shows; times are aware datetimes or epoch seconds (arrays)."""

    title: str
    start: datetime
    end: datetime
    series: Sequence[Line]
    threshold: float | None = None
    #: a threshold that is a query of its own (it may move): drawn dashed like the constant one
    threshold_lines: Sequence[Line] = ()
    threshold_label: str | None = None
    #: when the alert fired, and until when (None: still firing at `end`)
    firing: tuple[datetime, datetime | None] | None = None
    #: a forecast: the straight line from the last sample to the threshold at the ETA ...
    projection: tuple[tuple[datetime, float], tuple[datetime, float]] | None = None
    #: ... and its interval (None on a side: unbounded, drawn to the edge of the graph)
    interval: tuple[datetime | None, datetime | None] | None = None
    note: str | None = None  # a line under the title, e.g. "all series of the rule (none matched the alert)"
    tz: tzinfo = field(default=UTC)
    ylabel: str | None = None


@dataclass(frozen=True)
class Rendered:
    png: bytes
    width: int
    height: int
    #: (epoch seconds, value) -> (x, y) in image pixels, y from the top: where tests look for things
    to_pixel: Callable[[float, float], tuple[float, float]]


def _num(when: datetime) -> float:
    return float(mdates.date2num(when))  # type: ignore[no-untyped-call]


def render(chart: Chart, width: int = 800, height: int = 400) -> Rendered:
    """The chart as PNG bytes, `width` x `height` pixels."""
    with _LOCK:
        return _render(chart, width, height)


def worker_init() -> None:
    """A render process: the lowest CPU priority (a page's work wins a busy core), fonts loaded."""
    os.nice(19)
    render(Chart("warm-up", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 1, tzinfo=UTC), []))


def render_png(chart: Chart, width: int = 800, height: int = 400) -> bytes:
    """Only the PNG: what a render process sends back (the pixel mapping of Rendered does not pickle)."""
    return render(chart, width, height).png


def _canvas(width: int, height: int) -> tuple[Figure, FigureCanvasAgg, Axes]:
    """A figure of this size, reused from the render before with what it drew removed.

    A fresh Figure with its Axes and tick objects costs about a third of a render (bench/graphs.py); the renders
    are serialised by _LOCK, so one figure per size is enough. Everything a render draws is removed here, and
    everything it sets (limits, locators, labels) is set again by every render.
    """
    found = _FIGURES.get((width, height))
    if found is None:
        fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="white")
        canvas = FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.set_facecolor("white")
        ax.grid(True, color=GRID_COLOUR, linewidth=0.6, zorder=1)
        ax.set_axisbelow(True)
        ax.tick_params(colors=TEXT_COLOUR, labelsize=9)
        if len(_FIGURES) >= 4:  # sizes come from the config: a handful at most
            _FIGURES.clear()
        found = _FIGURES[(width, height)] = (fig, canvas, ax)
    fig, _, ax = found
    for artist in [*ax.lines, *ax.patches, *ax.texts, *ax.collections, *fig.texts]:
        artist.remove()
    legend = ax.get_legend()
    if legend is not None:
        legend.remove()
    ax.set_ylabel("")
    return found


def _render(chart: Chart, width: int, height: int) -> Rendered:
    fig, canvas, ax = _canvas(width, height)
    top = 0.84 if chart.note else 0.88
    fig.subplots_adjust(left=0.1, right=0.97, top=top, bottom=0.14)
    x0, x1 = _num(chart.start), _num(chart.end)
    if chart.interval is not None or chart.projection is not None:
        ends = [p for p in (chart.interval or (None, None)) if p is not None]
        ends += [chart.projection[1][0]] if chart.projection else []
        x1 = max([x1, *(_num(e) for e in ends)])
        x1 += (x1 - x0) * 0.03
    if chart.firing is not None:
        fs, fe = chart.firing
        ax.axvspan(max(_num(fs), x0), _num(fe) if fe else x1, color=FIRING_COLOUR, linewidth=0, zorder=0,
                   label="firing")
    if chart.interval is not None:
        lo, hi = chart.interval
        now = chart.projection[0][0] if chart.projection else chart.end
        ax.axvspan(_num(lo) if lo else _num(now), _num(hi) if hi else x1, color=INTERVAL_COLOUR, linewidth=0,
                   zorder=0, label="80 % interval")
    for i, line in enumerate(chart.series):
        ax.plot(line.t / 86400.0 + _EPOCH, line.v, color=SERIES_COLOURS[i % len(SERIES_COLOURS)], linewidth=2.2,
                zorder=3, label=line.label or None, solid_capstyle="butt")
    dashes = (0, (6, 3))
    label = f"threshold {chart.threshold_label}" if chart.threshold_label else "threshold"
    if chart.threshold is not None:
        ax.axhline(chart.threshold, color=THRESHOLD_COLOUR, linestyle=dashes, linewidth=1.8, zorder=4, label=label)
        ax.annotate(label, (0.99, chart.threshold), xycoords=("axes fraction", "data"), xytext=(0, 4),
                    textcoords="offset points", color=THRESHOLD_COLOUR, fontsize=8, va="bottom", ha="right",
                    zorder=7, bbox={"facecolor": "white", "edgecolor": "none", "pad": 1, "alpha": 0.8})
    for i, line in enumerate(chart.threshold_lines):
        ax.plot(line.t / 86400.0 + _EPOCH, line.v, color=THRESHOLD_COLOUR, linestyle=dashes, linewidth=1.8,
                zorder=4, label=label if i == 0 else None)
    if chart.projection is not None:
        (t0, v0), (t1, v1) = chart.projection
        ax.plot([_num(t0), _num(t1)], [v0, v1], color=PROJECTION_COLOUR, linewidth=2.2, linestyle=(0, (2, 2)),
                zorder=5, label="projection")
        ax.plot([_num(t1)], [v1], marker="o", color=PROJECTION_COLOUR, markersize=6, zorder=6)
    ax.set_xlim(x0, x1)
    _y_limits(ax, chart)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5))  # every tick is text to lay out: fewer is faster
    locator = mdates.AutoDateLocator(tz=chart.tz, minticks=3, maxticks=7)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(  # type: ignore[no-untyped-call]
        locator, tz=chart.tz, show_offset=False))
    ax.set_xlabel(f"local time ({_zone_name(chart.tz, chart.end)})", color=TEXT_COLOUR, fontsize=9)
    if chart.ylabel:
        ax.set_ylabel(chart.ylabel, color=TEXT_COLOUR, fontsize=9)
    fig.text(0.1, 0.95, _short(chart.title, 90), fontsize=12, fontweight="bold", color=TEXT_COLOUR, va="center")
    if chart.note:
        fig.text(0.1, 0.895, _short(chart.note, 120), fontsize=9, color="#424a53", va="center")
    if len(chart.series) > 1 or chart.projection is not None or chart.threshold_lines:
        ax.legend(loc="best", fontsize=8, framealpha=0.85, ncols=2)
    buf = io.BytesIO()
    # zlib level 1: a quarter of the encoding time of the default for a few more kilobytes
    canvas.print_png(buf, pil_kwargs={"compress_level": 1})  # type: ignore[no-untyped-call]
    transform = cast(Transform, ax.transData.frozen())  # the axes are reused by the next render

    def to_pixel(t: float, v: float) -> tuple[float, float]:
        x, y = transform.transform((t / 86400.0 + _EPOCH, v))
        return float(x), float(height - y)

    return Rendered(buf.getvalue(), width, height, to_pixel)


def _y_limits(ax: object, chart: Chart) -> None:
    """The threshold must be in view even when the series is far from it (a flat zero before a spike)."""
    values = [line.v for line in [*chart.series, *chart.threshold_lines] if len(line.v)]
    extra = [chart.threshold] if chart.threshold is not None else []
    if chart.projection is not None:
        extra += [chart.projection[0][1], chart.projection[1][1]]
    pool = np.concatenate([*values, np.asarray(extra, dtype=np.float64)]) if values or extra else np.zeros(1)
    lo, hi = float(np.min(pool)), float(np.max(pool))
    pad = (hi - lo) * 0.08 or max(abs(hi) * 0.1, 1.0)
    ax.set_ylim(lo - pad, hi + pad)  # type: ignore[attr-defined]


def _zone_name(tz: tzinfo, when: datetime) -> str:
    return when.astimezone(tz).tzname() or str(tz)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
