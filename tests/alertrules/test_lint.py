"""Lint over every rule pack: labels, annotations, links, names, test coverage and PromQL hazards."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.alertrules.promql import (
    duration_seconds,
    exposed_tocsin_metrics,
    metric_names,
    strip_strings,
    unguarded_divisions,
)
from tools.gen_rules import RUNBOOK_BASE, SEVERITIES, Pack

TEAMS = {"platform", "erp", "sre"}
REQUIRED_ANNOTATIONS = {"summary", "description", "runbook_url"}
DASHBOARD_BASE = "https://grafana.example.com/d/"
# Targets whose disappearance must page: a critical alert on absent(up{job=...} == 1) or equivalent.
MUST_PAGE_WHEN_ABSENT = {"api-server", "auth-service", "tocsin", "coredns", "celery-exporter"}


def alerts(packs: list[Pack]) -> list[tuple[Pack, dict[str, Any]]]:
    return [(pack, rule) for pack in packs for rule in pack.rules]


def test_every_rule_is_an_alert_in_a_known_pack(packs: list[Pack], repo: Path) -> None:
    assert {p.severity for p in packs} == set(SEVERITIES)
    stray = [p for p in (repo / "alertrules").iterdir() if p.is_dir() and p.name not in (*SEVERITIES, "tests")]
    assert stray == []
    for pack, rule in alerts(packs):
        assert "alert" in rule, f"{pack.path}: recording rules belong elsewhere: {rule}"


def test_severity_label_equals_the_pack_and_required_labels_are_present(packs: list[Pack]) -> None:
    for pack, rule in alerts(packs):
        labels = rule.get("labels", {})
        assert labels.get("severity") == pack.severity, rule["alert"]
        assert labels.get("team") in TEAMS, rule["alert"]
        assert set(labels) <= {"severity", "team", "service"}, rule["alert"]


def test_required_annotations_are_present_and_values_are_formatted(packs: list[Pack]) -> None:
    for _, rule in alerts(packs):
        ann = rule.get("annotations", {})
        assert REQUIRED_ANNOTATIONS <= set(ann) <= REQUIRED_ANNOTATIONS | {"dashboard_url"}, rule["alert"]
        for text in ann.values():
            for use in re.findall(r"\{\{[^}]*\$value[^}]*\}\}", text):
                assert "|" in use, f"{rule['alert']}: unformatted {use}"


def _heading_slugs(markdown: str) -> set[str]:
    slugs = set()
    for heading in re.findall(r"^#+\s+(.+)$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        slugs.add(slug)
    return slugs


def test_procedure_runbook_urls_resolve_to_a_section_of_a_file_in_this_repository(
        packs: list[Pack], repo: Path) -> None:
    for _, rule in alerts(packs):
        url = rule["annotations"]["runbook_url"]
        assert url.startswith(RUNBOOK_BASE), rule["alert"]
        path, _, anchor = url.removeprefix(RUNBOOK_BASE).partition("#")
        if path.startswith("runbooks/"):
            continue  # automated runbooks: checked by the next test
        assert path.startswith("docs/procedures/"), rule["alert"]
        target = repo / path
        assert target.is_file(), f"{rule['alert']}: {path} does not exist"
        assert anchor == rule["alert"].lower(), f"{rule['alert']}: anchor should be the alert name"
        assert anchor in _heading_slugs(target.read_text()), f"{rule['alert']}: no heading #{anchor} in {path}"


def test_automated_runbook_urls_resolve_to_runbook_files(packs: list[Pack], repo: Path) -> None:
    missing = sorted({
        path for _, rule in alerts(packs)
        if (path := rule["annotations"]["runbook_url"].removeprefix(RUNBOOK_BASE)).startswith("runbooks/")
        and not (repo / path).is_file()
    })
    assert missing == [], "runbook_url points at runbooks that do not exist"


def test_dashboard_urls_name_a_shipped_dashboard(packs: list[Pack], repo: Path) -> None:
    uids = {json.loads(p.read_text())["uid"] for p in (repo / "dashboards").glob("*.json")}
    for _, rule in alerts(packs):
        url = rule["annotations"].get("dashboard_url")
        if url is not None:
            assert url.startswith(DASHBOARD_BASE), rule["alert"]
            assert url.removeprefix(DASHBOARD_BASE) in uids, rule["alert"]


def test_alert_names_are_unique_within_a_pack_and_tiers_share_their_shape(packs: list[Pack]) -> None:
    seen: dict[str, list[tuple[Pack, dict[str, Any]]]] = {}
    for pack, rule in alerts(packs):
        seen.setdefault(rule["alert"], []).append((pack, rule))
    for name, tiers in seen.items():
        severities = [pack.severity for pack, _ in tiers]
        assert len(severities) == len(set(severities)), f"{name} defined twice in one pack"
        # The same name in two packs is one condition at two thresholds: same domain, labels, links.
        assert len({pack.domain for pack, _ in tiers}) == 1, name
        assert len({tuple(sorted(set(r["labels"]) - {"severity"})) for _, r in tiers}) == 1, name
        assert len({r["annotations"]["runbook_url"] for _, r in tiers}) == 1, name


def _runbook_alertnames(doc: Any) -> set[str]:
    """alertname equality matchers anywhere under a runbook's `match` (strings or mappings)."""
    found: set[str] = set()
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "alertname" and isinstance(value, str):
                found.add(value)
            found |= _runbook_alertnames(value)
    elif isinstance(doc, list):
        for item in doc:
            found |= _runbook_alertnames(item)
    elif isinstance(doc, str):
        found.update(re.findall(r'alertname\s*=\s*"?([A-Za-z0-9_]+)"?', doc))
    return found


def test_every_alert_a_shipped_runbook_matches_exists(packs: list[Pack], repo: Path) -> None:
    names = {rule["alert"] for _, rule in alerts(packs)}
    for path in sorted((repo / "runbooks").glob("*.yaml")):
        if "tocsin_preventive" in path.read_text():
            continue  # answers Tocsin's own forecast incidents: tests/remediator/test_preventive_contract.py
        doc = yaml.safe_load(path.read_text())
        matched = _runbook_alertnames(doc.get("match") if isinstance(doc, dict) else None)
        assert matched <= names, f"{path.name} matches alerts no pack defines: {matched - names}"


def test_ratios_are_guarded_against_division_by_zero(packs: list[Pack]) -> None:
    for _, rule in alerts(packs):
        assert unguarded_divisions(rule["expr"]) == [], rule["alert"]


def test_no_over_time_function_is_combined_with_for(packs: list[Pack]) -> None:
    for _, rule in alerts(packs):
        if "for" in rule:
            assert not re.search(r"_over_time\s*\(", strip_strings(rule["expr"])), rule["alert"]


def test_vanished_targets_that_must_page_have_a_critical_absent_alert(packs: list[Pack]) -> None:
    covered = set()
    for pack, rule in alerts(packs):
        if pack.severity == "critical" and "absent(" in rule["expr"]:
            covered.update(re.findall(r'job="([^"]+)"', rule["expr"]))
    assert covered >= MUST_PAGE_WHEN_ABSENT


def test_tocsin_alerts_use_only_metrics_tocsin_exposes(packs: list[Pack]) -> None:
    exposed = exposed_tocsin_metrics() | {"up"}
    tocsin_alerts = [rule for _, rule in alerts(packs) if rule["alert"].startswith("Tocsin")]
    assert len(tocsin_alerts) >= 5
    for rule in tocsin_alerts:
        used = metric_names(rule["expr"])
        assert used, rule["alert"]
        assert used <= exposed, f"{rule['alert']}: {used - exposed}"


def _groups_testing(test_files: dict[Path, dict[str, Any]], pack: Pack) -> list[tuple[float, dict[str, Any]]]:
    """(evaluation interval in s, test group) for every group of every test file loading pack."""
    found = []
    for path, doc in test_files.items():
        loaded = {(path.parent / f).resolve() for f in doc["rule_files"]}
        if pack.path.resolve() in loaded:
            default = duration_seconds(doc.get("evaluation_interval", "1m"))
            found += [(duration_seconds(g.get("interval", "1m")) if "interval" in g else default, g)
                      for g in doc["tests"]]
    return found


def test_promtool_test_files_load_existing_rule_files(test_files: dict[Path, dict[str, Any]]) -> None:
    # promtool only warns when a rule_files pattern matches nothing; the tests would then pass vacuously.
    assert test_files
    for path, doc in test_files.items():
        for rule_file in doc["rule_files"]:
            assert (path.parent / rule_file).is_file(), f"{path}: {rule_file}"


def test_every_alert_has_a_promtool_test_probing_its_for_boundary(
        packs: list[Pack], test_files: dict[Path, dict[str, Any]]) -> None:
    for pack, rule in alerts(packs):
        name, expected_labels = rule["alert"], rule["labels"]
        fired, quiet, boundary = False, False, False
        for interval, group in _groups_testing(test_files, pack):
            evals = [e for e in group.get("alert_rule_test", []) if e["alertname"] == name]
            quiet_times = {duration_seconds(e["eval_time"]) for e in evals if not e.get("exp_alerts")}
            quiet = quiet or bool(quiet_times)
            for e in evals:
                for alert in e.get("exp_alerts") or []:
                    assert expected_labels.items() <= alert["exp_labels"].items(), f"{name}: labels"
                    assert set(alert["exp_annotations"]) == set(rule["annotations"]), f"{name}: annotations"
                    fired = True
                    if duration_seconds(e["eval_time"]) - interval in quiet_times:
                        boundary = True
        assert fired, f"{name} ({pack.severity}) has no test where it fires"
        if rule["expr"].strip() == "vector(1)":
            continue  # the Watchdog has no healthy state
        assert quiet, f"{name} ({pack.severity}) has no test where it stays quiet"
        assert boundary, f"{name} ({pack.severity}) has no test one interval before it fires"


def test_every_seed_category_has_alerts(packs: list[Pack]) -> None:
    domains = {pack.domain for pack in packs if pack.rules}
    assert {"system", "applications", "infrastructure", "business", "erp", "tocsin", "meta"} <= domains
    services = {rule["labels"].get("service") for _, rule in alerts(packs)}
    assert {"api-server", "celery", "flower", "redis", "document-service", "auth-service",
            "reporting-service", "notification-service", "tocsin"} <= services
