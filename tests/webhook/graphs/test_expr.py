"""What to plot for an alert: the vector side of its comparison, the threshold, the alert's own series."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from webhook.graphs.expr import CannotPlot, PlotSpec, expression_from_url, own_series, plot_spec

RULES = Path(__file__).resolve().parents[3] / "alertrules"


def shipped_rules() -> list[tuple[str, str]]:
    out = []
    for path in sorted(RULES.glob("*/*.yml")) + sorted(RULES.glob("*.yml")):
        if path.parent.name == "tests":
            continue
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            out += [(f"{path.parent.name}/{path.name}:{r['alert']}", str(r["expr"]))
                    for r in group.get("rules", []) if "alert" in r]
    return out


def test_the_shipped_rules_are_all_there() -> None:
    assert len(shipped_rules()) >= 80


@pytest.mark.parametrize(("name", "expr"), shipped_rules(), ids=[n for n, _ in shipped_rules()])
def test_every_shipped_rule_yields_a_query_or_a_reason(name: str, expr: str) -> None:
    spec = plot_spec(expr)
    if isinstance(spec, CannotPlot):
        assert "absent" in expr and spec.reason, name  # only absent() rules have nothing to draw
        return
    assert spec.query.strip() and spec.expression == expr
    assert plot_spec(spec.query) is not None  # what is plotted is PromQL again (the parser printed it)
    if spec.op is not None:
        assert (spec.threshold is None) != (spec.threshold_query is None), name


@pytest.mark.parametrize(("expr", "query", "op", "threshold", "threshold_query"), [
    ('rate(http_errors_total{job="api"}[5m]) > 0.1', 'rate(http_errors_total{job="api"}[5m])', ">", 0.1, None),
    ("0.1   <\n rate(x[5m])", "rate(x{}[5m])", ">", 0.1, None),  # flipped: drawn as x > 0.1
    ("used / size > bool 0.9", "used{} / size{}", ">", 0.9, None),
    ("(x > 5) and on (job) up == 1", "x{}", ">", 5.0, None),
    ("a >= 3 or b < 2", "a{}", ">=", 3.0, None),
    ("sum(x) > scalar(y)", "sum(x{})", ">", None, "scalar(y{})"),
    ("current == max_replicas", "current{}", "==", None, "max_replicas{}"),
    ("x > 14.4 * 0.005", "x{}", ">", pytest.approx(0.072), None),  # constant arithmetic folded
    ("x < -1", "x{}", "<", -1.0, None),
    ("(increase(r[15m]) > 3) * on (pod) group_left (node) max by (pod, node) (info)", "increase(r{}[15m])", ">",
     3.0, None),
    ("rate(x[5m])", "rate(x{}[5m])", None, None, None),  # no comparison: the expression itself
])
def test_the_vector_side_and_the_threshold(expr: str, query: str, op: str | None, threshold: float | None,
                                           threshold_query: str | None) -> None:
    spec = plot_spec(expr)
    assert isinstance(spec, PlotSpec)
    assert (spec.query, spec.op, spec.threshold, spec.threshold_query) == (query, op, threshold, threshold_query)


@pytest.mark.parametrize(("expr", "reason"), [
    ('absent(up{job="x"})', "absent"),
    ("x >", "does not parse"),
    ("1 > bool 2", "not a vector"),
])
def test_cannot_plot_says_why(expr: str, reason: str) -> None:
    spec = plot_spec(expr)
    assert isinstance(spec, CannotPlot) and reason in spec.reason


def test_the_expression_comes_from_prometheus_generator_url() -> None:
    expr = 'sum by (queue) (celery_queue_length{queue="orders"}) > 100'
    url = f"http://prometheus:9090/graph?g0.expr={quote(expr)}&g0.tab=1"
    assert expression_from_url(url) == expr
    assert expression_from_url("http://prometheus:9090/graph?g0.tab=1") is None
    assert expression_from_url("") is None
    assert expression_from_url("https://grafana.example.com/alerting/grafana/abc/view") is None


def test_the_alerts_own_series_are_kept() -> None:
    alert = {"alertname": "Backlog", "severity": "high", "queue": "orders", "job": "celery"}
    series = [{"queue": "orders", "job": "celery"}, {"queue": "mails", "job": "celery"}, {"queue": "orders"}]
    assert own_series(series, alert) == ([0, 2], True)
    assert own_series([{"queue": "x"}, {"queue": "y"}], alert) == ([0, 1], False)  # none match: all, said so
