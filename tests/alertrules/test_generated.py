"""Generated files (PrometheusRule manifests, the docs alert table) match what the packs produce."""

from __future__ import annotations

from pathlib import Path

import yaml

from tools.gen_rules import DOCS, MANIFEST_DIR, TABLE_BEGIN, Pack, expected_files, stale_files


def test_prometheusrule_manifests_and_docs_table_are_current(repo: Path) -> None:
    assert stale_files(repo) == [], "run: python tools/gen_rules.py"


def test_each_manifest_carries_exactly_the_groups_of_its_pack(packs: list[Pack], repo: Path) -> None:
    for pack in packs:
        doc = yaml.safe_load((repo / MANIFEST_DIR / f"{pack.severity}-{pack.domain}.yaml").read_text())
        assert doc["apiVersion"] == "monitoring.coreos.com/v1"
        assert doc["kind"] == "PrometheusRule"
        assert doc["spec"]["groups"] == pack.content["groups"]


def test_docs_table_lists_every_alert_once_per_severity(packs: list[Pack], repo: Path) -> None:
    text = expected_files(repo)[DOCS]
    table = text[text.index(TABLE_BEGIN):]
    for pack in packs:
        for rule in pack.rules:
            assert table.count(f"| `{rule['alert']}` | {pack.severity} |") == 1, rule["alert"]
