"""`prevention.*`: the shipped examples load once uncommented; bad input gets an error naming the problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from webhook.config import TocsinConfig, load_config
from webhook.yamlpos import ConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "tocsin.yaml"
PROM = {"url": "http://prometheus:9090"}


def shipped() -> dict[str, Any]:
    """The commented-out prometheus/prevention sections of examples/tocsin.yaml, uncommented."""
    lines = EXAMPLE.read_text().splitlines()
    start = lines.index("# prometheus:")
    block = [line[2:] for line in lines[start:] if line.startswith("# ")]
    data = yaml.safe_load("\n".join(block))
    assert isinstance(data, dict)
    return data


def test_the_shipped_examples_load(tmp_path: Path) -> None:
    data = shipped()
    (tmp_path / "tocsin.yaml").write_text(yaml.safe_dump(data))
    cfg = load_config(tmp_path / "tocsin.yaml")
    names = [f.name for f in cfg.prevention.forecasts]
    # the alertnames the shipped preventive runbooks (runbooks/forecast-*.yaml) match
    assert names == ["TocsinForecastNodeDiskFull", "TocsinForecastPVCFull", "TocsinForecastMemoryNearLimit",
                     "TocsinForecastQueueBacklog", "TocsinForecastPostgresConnections", "TocsinCertificateExpiry"]
    assert [b.name for b in cfg.prevention.baselines] == ["TocsinBaselineOrders"]
    celery = cfg.prevention.forecasts[3]
    assert celery.query().endswith(") / 10000") and celery.labels["deployment"] == "erp-worker"
    assert cfg.prevention.forecasts[-1].kind == "countdown"


def test_the_example_file_as_shipped_leaves_prevention_off() -> None:
    cfg = load_config(EXAMPLE)  # `make run`: nothing to evaluate, no Prometheus needed
    assert not cfg.prevention.enabled


def forecast(**kw: Any) -> dict[str, Any]:
    return {"name": "TocsinForecastX", "usage": "used", "capacity": "size", **kw}


@pytest.mark.parametrize(("prevention", "prometheus", "message"), [
    ({"forecasts": [forecast()]}, {}, "set prometheus.url"),
    ({"baselines": [{"name": "B", "query": "orders"}]}, {}, "set prometheus.url"),
    ({"forecasts": [forecast(name="bad-name")]}, PROM, "String should match pattern"),
    ({"forecasts": [forecast(), forecast()]}, PROM, "'TocsinForecastX' is used twice"),
    ({"forecasts": [forecast(limit=100)]}, PROM, "exactly one of `capacity` or `limit`"),
    ({"forecasts": [{"name": "F", "fraction": "x", "usage": "u"}]}, PROM, "or `fraction` alone"),
    ({"forecasts": [forecast(kind="countdown")]}, PROM, "a countdown gives `usage`"),
    ({"forecasts": [forecast(high_within="2d")]}, PROM, "high_within must not exceed horizon"),
    ({"forecasts": [forecast(labels={"severity": "critical"})]}, PROM, "'severity' is set by Tocsin"),
    ({"forecasts": [forecast(summary="{eta")]}, PROM, "summary: not a valid template"),
    ({"forecasts": [forecast(summary="{labels[x]}")]}, PROM, "placeholders must be plain names"),
    ({"baselines": [{"name": "B", "query": "q", "drop": None, "surge": None}]}, PROM, "at least one of drop"),
    ({"baselines": [{"name": "B", "query": "q", "timezone": "Mars/Olympus"}]}, PROM, "unknown time zone"),
])
def test_bad_prevention_config_is_refused(prevention: dict[str, Any], prometheus: dict[str, Any],
                                          message: str) -> None:
    with pytest.raises(ValueError, match=r"prevention|prometheus") as info:
        TocsinConfig(prevention=prevention, prometheus=prometheus)
    assert message in str(info.value)


def test_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "tocsin.yaml"
    path.write_text("prometheus:\n  url: http://p:9090\nprevention:\n  forecasts:\n    - name: X\n"
                    "      usage: used\n      capacity: size\n      threshold: 1.5\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert "prevention.forecasts.0.threshold" in text and f"{path}:8" in text
