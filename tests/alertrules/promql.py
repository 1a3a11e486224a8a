"""Small PromQL text helpers shared by the rule and dashboard tests (names, guards, durations)."""

from __future__ import annotations

import re

from prometheus_client.metrics_core import Metric

from webhook import metrics as tocsin_metrics

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{")
_DURATION = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def strip_strings(expr: str) -> str:
    """expr with every string literal emptied, so label values cannot look like syntax."""
    return _STRING.sub('""', expr)


def metric_names(expr: str) -> set[str]:
    """Metric names used with a selector (`name{...}`), the only form the packs and dashboards use."""
    return set(_SELECTOR.findall(strip_strings(expr))) - {"by", "without", "on", "ignoring", "group_left",
                                                          "group_right", "sum", "max", "min", "count", "avg"}


def duration_seconds(text: str) -> float:
    """Seconds of a Prometheus duration such as `3w2h30m` or `90s`."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)


def _balanced(text: str, start: int) -> str:
    """The content of the parenthesised group opening at text[start]."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1:i]
    raise ValueError(f"unbalanced parentheses in {text!r}")


def _top_level(text: str) -> str:
    """text with every nested parenthesised group removed."""
    out, depth = [], 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def unguarded_divisions(expr: str) -> list[str]:
    """Divisors that may be zero: each `/` must be followed by a number or by `( ... > N )`."""
    text = strip_strings(expr)
    bad = []
    for match in re.finditer(r"/", text):
        rest = text[match.end():].lstrip()
        if re.match(r"[0-9.]", rest):
            continue
        if rest.startswith("("):
            group = _balanced(rest, 0)
            if re.search(r">\s*[0-9.]+", _top_level(group)):
                continue
        bad.append(rest[:60])
    return bad


def exposed_tocsin_metrics() -> set[str]:
    """Every series name Tocsin's /metrics can expose (counters as _total, histograms expanded)."""
    names = set(tocsin_metrics.DB_GAUGES)
    families: list[Metric] = list(tocsin_metrics.REGISTRY.collect())
    for family in families:
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names.update(family.name + s for s in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return names
