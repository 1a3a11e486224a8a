"""Every shipped runbook gets the labels it renders from the alert its rule pack really fires."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
LABEL_REF = re.compile(r"labels\.(\w+)\s*(\|\s*default)?")


def _fired_labels() -> dict[str, list[dict[str, str]]]:
    """alertname -> the exact label sets the promtool tests expect it to fire with."""
    fired: dict[str, list[dict[str, str]]] = {}
    for path in sorted((REPO / "alertrules/tests").rglob("*_test.yml")):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                for alert in case.get("exp_alerts") or []:
                    fired.setdefault(case["alertname"], []).append(alert["exp_labels"])
    return fired


def _required_labels(runbook: dict[str, Any]) -> set[str]:
    """Labels the runbook renders without a default (target, preconditions, verify)."""
    text = yaml.safe_dump({k: runbook.get(k) for k in ("target", "preconditions", "verify")})
    return {m.group(1) for m in LABEL_REF.finditer(text) if m.group(2) is None}


#: Runbooks answering alerts of the rule packs; preventive runbooks answer Tocsin's own forecast incidents (their
#: contract is checked in tests/remediator/test_preventive_contract.py).
RUNBOOKS = sorted(p for p in (REPO / "runbooks").glob("*.yaml") if "tocsin_preventive" not in p.read_text())


@pytest.mark.parametrize("path", RUNBOOKS, ids=[p.stem for p in RUNBOOKS])
def test_the_alert_carries_every_label_the_runbook_renders(path: Path) -> None:
    runbook = yaml.safe_load(path.read_text())
    [alertname] = [m.split('"')[1] for m in runbook["match"] if m.startswith("alertname=")]
    fired = _fired_labels()
    assert fired.get(alertname), f"{alertname} has no promtool test that fires it"
    needed = _required_labels(runbook)
    for labels in fired[alertname]:
        assert needed <= labels.keys(), f"{alertname} fires without {sorted(needed - labels.keys())}"
