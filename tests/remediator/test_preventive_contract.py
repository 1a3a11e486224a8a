"""Every preventive runbook matches the forecast job's incidents and renders only labels that contract gives.

Preventive incidents come from Tocsin's own forecast job, not from a Prometheus rule pack, so the check that
reactive runbooks get their labels from the promtool-tested rules (tests/alertrules/test_rule_labels.py) has
nothing to read for them: this is its counterpart, against the contract the forecast job publishes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from remediator.loader import load_runbooks
from remediator.runbook import Runbook

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
LABEL_REF = re.compile(r"labels\.(\w+)\s*(\|\s*default)?")
ANNOTATION_REF = re.compile(r"annotations\.(\w+)")

#: The preventive incident contract: alertname -> the labels its alerts carry (besides the common ones).
COMMON = {"alertname", "tocsin_preventive", "severity"}
CONTRACT: dict[str, set[str]] = {
    "TocsinForecastPVCFull": {"namespace", "persistentvolumeclaim"},
    "TocsinForecastNodeDiskFull": {"instance", "node", "mountpoint", "device"},
    "TocsinForecastQueueBacklog": {"queue", "namespace", "deployment"},
    # NOT in the contract yet: forecast-memory-restart's assumption for the memory working set forecast
    "TocsinForecastMemoryNearLimit": {"namespace", "pod", "container"},
}
ANNOTATIONS = {"summary", "tocsin_forecast_query", "tocsin_forecast_threshold", "tocsin_forecast_eta",
               "tocsin_forecast_eta_low", "tocsin_forecast_eta_high", "tocsin_forecast_level"}
EXAMPLE = {"namespace": "shop", "persistentvolumeclaim": "data-0", "instance": "10.0.0.1:9100", "node": "n1",
           "mountpoint": "/", "device": "/dev/sda1", "queue": "default", "deployment": "celery-worker",
           "pod": "worker-5c-abc", "container": "app"}


def preventive() -> list[Runbook]:
    return [r for r in load_runbooks(RUNBOOKS) if any(m.name == "tocsin_preventive" for m in r.matchers)]


def test_at_least_three_preventive_runbooks_ship() -> None:
    assert len(preventive()) >= 3


@pytest.mark.parametrize("runbook", preventive(), ids=lambda r: r.id)
def test_the_runbook_matches_its_forecast_and_renders_only_contract_labels(runbook: Runbook) -> None:
    [alertname] = [m.value for m in runbook.matchers if m.name == "alertname"]
    assert alertname in CONTRACT, f"{runbook.id} matches {alertname}, which no forecast of the contract opens"
    labels = {name: EXAMPLE[name] for name in CONTRACT[alertname]}
    fired = {"alertname": alertname, "tocsin_preventive": "exhaustion", "severity": "medium", **labels}
    assert runbook.matches(fired)
    assert not runbook.matches({k: v for k, v in fired.items() if k != "tocsin_preventive"})
    text = yaml.safe_dump(runbook.model_dump(mode="json", include={"target", "preconditions", "steps", "verify"}))
    needed = {m.group(1) for m in LABEL_REF.finditer(text) if m.group(2) is None}
    assert needed <= COMMON | CONTRACT[alertname], f"renders labels outside the contract: {needed}"
    assert {m.group(1) for m in ANNOTATION_REF.finditer(text)} <= ANNOTATIONS
    assert runbook.verify is not None, "a preventive run is verified by the forecast clearing"
