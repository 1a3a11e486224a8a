"""Grafana dashboards: valid against Grafana's schema, conventions kept, PromQL parses, metric names exist."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.alertrules.promql import exposed_tocsin_metrics, metric_names, unguarded_divisions
from tests.support.procs import PROMTOOL
from tools.gen_rules import ROOT

EXPECTED = {"alerting-overview", "remediation", "erp-services", "cluster-capacity"}
ENGINE_DASHBOARDS = ("alerting-overview", "remediation")
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# Sample values for Grafana's built-in variables, so queries can be checked as plain PromQL.
GRAFANA_VARIABLES = {"$__rate_interval": "2m", "$__interval": "1m", "$__range": "6h"}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # panels inside collapsed rows


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def test_the_four_dashboards_exist(dashboards: dict[str, dict[str, Any]]) -> None:
    assert set(dashboards) == EXPECTED


def test_dashboards_validate_against_grafanas_schema(dashboards: dict[str, dict[str, Any]],
                                                     dashboard_schema: dict[str, Any]) -> None:
    assert dashboard_schema["$ref"] == "#/definitions/Dashboard"
    assert dashboard_schema["definitions"]["Dashboard"]["additionalProperties"] is False
    validator = jsonschema.Draft7Validator(dashboard_schema)
    for name, dashboard in dashboards.items():
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(dashboard)]
        assert errors == [], name


def test_schema_rejects_what_grafana_would_not_load(dashboard_schema: dict[str, Any],
                                                    dashboards: dict[str, dict[str, Any]]) -> None:
    broken = dict(dashboards["remediation"], schemaVersion="39", refreshh="1m")
    messages = [e.message for e in jsonschema.Draft7Validator(dashboard_schema).iter_errors(broken)]
    assert any("'39' is not of type 'number'" in m for m in messages)
    assert any("refreshh" in m for m in messages)


def test_uids_are_stable_and_dashboards_are_tagged_and_linked(dashboards: dict[str, dict[str, Any]]) -> None:
    for name, dashboard in dashboards.items():
        assert dashboard["uid"] == f"tocsin-{name}"
        assert "tocsin" in dashboard["tags"] and len(dashboard["tags"]) >= 2
        links = [link for link in dashboard["links"] if link["type"] == "dashboards"]
        assert links and all(link["tags"] == ["tocsin"] for link in links), name
        assert dashboard.get("id") is None, "a provisioned dashboard must not carry an instance id"


def test_one_prometheus_datasource_variable_used_by_every_panel(dashboards: dict[str, dict[str, Any]]) -> None:
    for name, dashboard in dashboards.items():
        variables = dashboard["templating"]["list"]
        datasources = [v for v in variables if v["type"] == "datasource"]
        assert len(datasources) == 1 and datasources[0]["name"] == "datasource", name
        assert datasources[0]["query"] == "prometheus"
        for panel in panels(dashboard):
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == DATASOURCE, f"{name}: {panel['title']}"
            assert all(t["datasource"] == DATASOURCE for t in panel["targets"]), f"{name}: {panel['title']}"


def test_panel_ids_are_unique_and_panels_do_not_overlap(dashboards: dict[str, dict[str, Any]]) -> None:
    for name, dashboard in dashboards.items():
        ids = [p["id"] for p in panels(dashboard)]
        assert len(ids) == len(set(ids)), name
        cells: set[tuple[int, int]] = set()
        for panel in panels(dashboard):
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24, f"{name}: {panel['title']}"
            area = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
            assert not cells & area, f"{name}: {panel['title']} overlaps"
            cells |= area


def test_rate_and_increase_use_rate_interval_and_ratios_are_guarded(
        dashboards: dict[str, dict[str, Any]]) -> None:
    for name, dashboard in dashboards.items():
        for title, expr in queries(dashboard):
            windows = re.findall(r"\b(?:rate|increase)\s*\([^\[]*\[([^\]]+)\]", expr)
            assert all(w == "$__rate_interval" for w in windows), f"{name}: {title}: {windows}"
            assert unguarded_divisions(expr) == [], f"{name}: {title}"


def _as_rule_file(dashboards: dict[str, dict[str, Any]]) -> tuple[str, list[str]]:
    rules, origins = [], []
    for name, dashboard in dashboards.items():
        for title, expr in queries(dashboard):
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr.replace("$1", ""), f"{name}: {title}: unknown variable"
            rules.append({"record": f"dashboard:query:{len(rules)}", "expr": expr})
            origins.append(f"{name}: {title}")
    return yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}), origins


def test_every_panel_query_parses_as_promql(dashboards: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    text, origins = _as_rule_file(dashboards)
    assert len(origins) >= 40
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(text)
    result = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(origins)} rules found" in result.stdout


def test_promql_check_catches_a_broken_query(tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"record": "dashboard:query:0", "expr": "sum by (le (rate(x[2m]))"}]}]}))
    result = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode != 0


@pytest.mark.parametrize("name", ENGINE_DASHBOARDS)
def test_engine_dashboards_use_only_metrics_tocsin_exposes(name: str,
                                                           dashboards: dict[str, dict[str, Any]]) -> None:
    exposed = exposed_tocsin_metrics()
    used = {metric for _, expr in queries(dashboards[name]) for metric in metric_names(expr)}
    tocsin = {m for m in used if m.startswith("tocsin_")}
    assert tocsin, name
    assert tocsin <= exposed, f"{name}: {sorted(tocsin - exposed)}"
    assert used - tocsin <= {"up", "ALERTS"}, f"{name}: {sorted(used - tocsin)}"


def test_engine_dashboards_cover_every_tocsin_metric_family(dashboards: dict[str, dict[str, Any]]) -> None:
    families = {re.sub(r"_(total|bucket|sum|count)$", "", m) for m in exposed_tocsin_metrics()}
    used = {re.sub(r"_(total|bucket|sum|count)$", "", metric)
            for name in ENGINE_DASHBOARDS for _, expr in queries(dashboards[name]) for metric in metric_names(expr)}
    # Payload size and ingest batch size are operator detail for the bench, not dashboards.
    assert families - used <= {"tocsin_webhook_payload_bytes", "tocsin_ingest_batch_payloads"}


def test_provisioning_loads_the_dashboards_and_a_prometheus_datasource() -> None:
    (datasources,) = (ROOT / "dashboards/provisioning/datasources").glob("*.yml")
    ds = yaml.safe_load(datasources.read_text())
    assert ds["apiVersion"] == 1
    assert [d["type"] for d in ds["datasources"]] == ["prometheus"]
    assert ds["datasources"][0]["url"].startswith("http")
    (providers,) = (ROOT / "dashboards/provisioning/dashboards").glob("*.yml")
    prov = yaml.safe_load(providers.read_text())
    assert prov["apiVersion"] == 1
    (provider,) = prov["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/")
