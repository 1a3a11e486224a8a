"""Fixtures for the rule-pack tests: the packs, the promtool test files and the repository root."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.gen_rules import ROOT, Pack, load_packs


@pytest.fixture(scope="session")
def repo() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def packs() -> list[Pack]:
    return load_packs()


@pytest.fixture(scope="session")
def test_files(repo: Path) -> dict[Path, dict[str, Any]]:
    """Every promtool test file under alertrules/tests, parsed."""
    return {p: yaml.safe_load(p.read_text()) for p in sorted((repo / "alertrules/tests").rglob("*_test.yml"))}
