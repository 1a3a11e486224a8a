"""What to plot for an alert: its rule expression (from the generatorURL) parsed with promql-parser.

A rule `A > B` fires on the series of A that are above B, so the graph shows A (the "vector side") with B as
the threshold. The expression is parsed, never picked apart with regexes: `rate(x[5m]) > 0.1`, `0.1 < rate(...)`,
`used / size > bool 0.9`, `(x > 5) and on(job) up == 1`, `a > b or c < d` and `sum(x) > scalar(y)` all name
their vector side correctly, whatever their spacing or nesting.

Rules, in order:

* `A and B`, `A unless B`: the series come from A, so A is searched (B only filters).
* `A or B`: A is searched, then B.
* `A * on (...) group_left (...) info`: A is searched, then the other side (the label join of kube rules; the
  info metric is 1, so the drawn values are those compared).
* A comparison (`> < >= <= == !=`, with or without `bool`): the first side that is a vector is plotted; the
  other side is the threshold: a number literal (constant arithmetic like `14.4 * 0.005` is folded), or an
  expression evaluated as a query of its own (a scalar like `scalar(x)` or a vector like `capacity * 0.9`, then
  drawn as a dashed line that may move).
* Anything else (no comparison, e.g. `rate(x[5m])`, or one buried in arithmetic other than the label join):
  the whole expression is plotted, without threshold; `absent()` has nothing to draw (CannotPlot).

The alert's own series: the plotted query returns every series of the rule, the graph keeps those whose labels
are all among the alert's labels with equal values (the alert's labels are the series' labels plus the rule's).
When none matches (a rule that renames labels with label_replace, or a threshold side with other labels), all
series are kept, at most MAX_SERIES, and the graph says so in its legend.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import promql_parser as pp

_ARITH: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "%": math.fmod,
    "^": operator.pow,
}
COMPARISONS = frozenset({">", "<", ">=", "<=", "==", "!="})
SET_OPS = frozenset({"and", "or", "unless"})
#: Series drawn at most when the alert's own series cannot be told apart.
MAX_SERIES = 8
#: Functions returning a scalar (a threshold side made of them is a scalar); everything else on a vector is one.
SCALAR_FUNCS = frozenset({"scalar", "time", "pi"})


@dataclass(frozen=True, slots=True)
class PlotSpec:
    """A query to plot and its threshold (a number, or a query of its own, or none)."""

    expression: str  # the whole rule expression, as Prometheus sent it
    query: str  # the vector side, printed back by the parser
    op: str | None = None  # the comparison, e.g. ">"
    threshold: float | None = None
    threshold_query: str | None = None

    @property
    def threshold_text(self) -> str | None:
        if self.threshold is not None:
            return f"{self.op} {self.threshold:g}"
        if self.threshold_query is not None:
            return f"{self.op} {self.threshold_query}"
        return None


@dataclass(frozen=True, slots=True)
class CannotPlot:
    """Why there is no graph for this expression (said in the timeline and the console's 404)."""

    reason: str


def expression_from_url(url: str) -> str | None:
    """The `g0.expr` of a Prometheus generatorURL (`http://prom:9090/graph?g0.expr=...&g0.tab=1`), else None."""
    if not url:
        return None
    try:
        query = urlsplit(url).query
    except ValueError:
        return None
    values = parse_qs(query).get("g0.expr")
    expr = values[0].strip() if values else ""
    return expr or None


def _kind(node: pp.Expr) -> str:
    """"scalar", "vector" (instant or range vector) or "string", from the node types alone."""
    if isinstance(node, pp.NumberLiteral):
        return "scalar"
    if isinstance(node, pp.StringLiteral):
        return "string"
    if isinstance(node, pp.ParenExpr | pp.UnaryExpr):
        return _kind(node.expr)
    if isinstance(node, pp.BinaryExpr):
        return "vector" if "vector" in (_kind(node.lhs), _kind(node.rhs)) else "scalar"
    if isinstance(node, pp.Call):
        return "scalar" if node.func.name in SCALAR_FUNCS else "vector"
    return "vector"  # selectors, aggregations, subqueries


def _unwrap(node: pp.Expr) -> pp.Expr:
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    return node


def _number(node: pp.Expr) -> float | None:
    """The value of a constant side (`0.9`, `(0.9)`, `-1`), None when it needs evaluating."""
    node = _unwrap(node)
    if isinstance(node, pp.NumberLiteral):
        return float(node.val)
    if isinstance(node, pp.UnaryExpr):
        inner = _number(node.expr)
        return -inner if inner is not None else None
    if isinstance(node, pp.BinaryExpr) and str(node.op) in _ARITH:  # `14.4 * 0.005`, `7 * 86400`
        a, b = _number(node.lhs), _number(node.rhs)
        if a is not None and b is not None:
            try:
                return float(_ARITH[str(node.op)](a, b))
            except (ArithmeticError, ValueError):
                return None
    return None


def _comparison(node: pp.Expr, expression: str) -> PlotSpec | None:
    node = _unwrap(node)
    if not isinstance(node, pp.BinaryExpr):
        return None
    op = str(node.op)
    if op in ("and", "unless"):
        return _comparison(node.lhs, expression)
    if op == "or":
        return _comparison(node.lhs, expression) or _comparison(node.rhs, expression)
    if op == "*":  # the label join `(A > 3) * on (pod) group_left (node) kube_pod_info`: the info side is 1
        return _comparison(node.lhs, expression) or _comparison(node.rhs, expression)
    if op not in COMPARISONS:
        return None
    sides = [(node.lhs, node.rhs, op), (node.rhs, node.lhs, _flip(op))]
    for vec, other, shown_op in sides:
        if _kind(vec) == "vector":
            number = _number(other)
            return PlotSpec(expression, str(_unwrap(vec)), shown_op, number,
                            None if number is not None else str(_unwrap(other)))
    return None


def _flip(op: str) -> str:
    """`0.9 < x` reads `x > 0.9` when x is drawn."""
    return {">": "<", "<": ">", ">=": "<=", "<=": ">="}.get(op, op)


def plot_spec(expression: str) -> PlotSpec | CannotPlot:
    """What to plot for a rule expression; CannotPlot with the reason when nothing can be."""
    try:
        tree = pp.parse(expression)
    except (ValueError, RuntimeError) as exc:  # the parser raises ValueError on bad PromQL
        return CannotPlot(f"expression does not parse: {str(exc)[:200]}")
    found = _comparison(tree, expression)
    if found is not None:
        return found
    if _kind(tree) != "vector":
        return CannotPlot(f"expression is not a vector: {expression[:200]}")
    node = _unwrap(tree)
    if isinstance(node, pp.BinaryExpr) and str(node.op) in ("and", "unless"):
        node = _unwrap(node.lhs)  # the series come from the left; the right only filters
    if isinstance(node, pp.Call) and node.func.name in ("absent", "absent_over_time"):
        return CannotPlot("absent() alerts have no series to draw (the alert is about a missing one)")
    return PlotSpec(expression, str(node))


def own_series(series_labels: list[Mapping[str, str]], alert_labels: Mapping[str, str]) -> tuple[list[int], bool]:
    """Indexes of the series to draw for an alert, and whether they are its own (see the module docstring)."""
    mine = [i for i, labels in enumerate(series_labels)
            if all(alert_labels.get(k) == v for k, v in labels.items() if k != "__name__")]
    if mine:
        return mine[:MAX_SERIES], True
    return list(range(min(len(series_labels), MAX_SERIES))), False
