"""The report's charts as inline SVG: matplotlib's object API on the Agg-free SVG canvas, no pyplot and no global
state (safe in the API's threads), no external assets (the console's CSP loads nothing from elsewhere)."""

from __future__ import annotations

import io
from typing import Any

from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

SEVERITY_ORDER = ("critical", "high", "warning", "medium", "low", "info")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    FigureCanvasSVG(fig).print_svg(buf, metadata={"Date": None})  # type: ignore[no-untyped-call]
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML declaration and doctype: the SVG goes inline into HTML


def pages_per_day(per_day: dict[str, dict[str, int]]) -> str:
    fig = Figure(figsize=(9, 3))
    ax = fig.add_subplot()
    days = sorted(per_day)
    sevs = sorted({s for c in per_day.values() for s in c},
                  key=lambda s: (SEVERITY_ORDER.index(s) if s in SEVERITY_ORDER else 99, s))
    bottom = [0] * len(days)
    for sev in sevs:
        values = [per_day[d].get(sev, 0) for d in days]
        ax.bar(range(len(days)), values, bottom=bottom, label=sev)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    step = max(1, len(days) // 10)
    ax.set_xticks(range(0, len(days), step), [days[i][5:] for i in range(0, len(days), step)])
    ax.set_ylabel("pages")
    ax.set_title("Pages per day by severity")
    if sevs:
        ax.legend(fontsize="small")
    fig.tight_layout()
    return _svg(fig)


def mtta_histogram(buckets: list[dict[str, Any]]) -> str:
    fig = Figure(figsize=(6, 3))
    ax = fig.add_subplot()
    labels = [f"{b['from_min']}-{b['to_min']}" if b["to_min"] is not None else f"{b['from_min']}+" for b in buckets]
    ax.bar(range(len(buckets)), [b["count"] for b in buckets], color="#4477aa")
    ax.set_xticks(range(len(buckets)), labels)
    ax.set_xlabel("minutes to acknowledge")
    ax.set_ylabel("incidents")
    ax.set_title("MTTA distribution")
    fig.tight_layout()
    return _svg(fig)


def hour_of_week(counts: list[int], zone: str) -> str:
    fig = Figure(figsize=(9, 3))
    ax = fig.add_subplot()
    grid = [counts[d * 24:(d + 1) * 24] for d in range(7)]
    image = ax.imshow(grid, aspect="auto", cmap="Reds")
    ax.set_yticks(range(7), DAYS)
    ax.set_xticks(range(0, 24, 3), [f"{h:02d}" for h in range(0, 24, 3)])
    ax.set_xlabel(f"hour ({zone})")
    ax.set_title("Pages by hour of week")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return _svg(fig)
