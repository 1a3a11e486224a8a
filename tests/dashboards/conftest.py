"""Fixtures for the dashboard tests: the dashboards, and Grafana's dashboard schema as JSON Schema.

Grafana publishes its dashboard model in the npm package @grafana/schema, but only as TypeScript
generated from its CUE schema (dist/types/raw/dashboard/x/types.gen.d.ts, interface `Dashboard`); the
package ships no JSON Schema. So the set-up installs the versions pinned in package-lock.json (`npm ci`,
skipped when node_modules already holds them) and converts that interface with ts-json-schema-generator.
The result is strict like the TypeScript type: unknown keys are errors.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tools.gen_rules import ROOT

DASHBOARD_TYPES = "node_modules/@grafana/schema/dist/types/raw/dashboard/x/types.gen.d.ts"
NPM_PACKAGES = ("@grafana/schema", "ts-json-schema-generator", "typescript")


def _installed_as_locked(root: Path) -> bool:
    lock = json.loads((root / "package-lock.json").read_text())["packages"]
    for name in NPM_PACKAGES:
        installed = root / "node_modules" / name / "package.json"
        if not installed.is_file():
            return False
        if json.loads(installed.read_text())["version"] != lock[f"node_modules/{name}"]["version"]:
            return False
    return True


def _npm_ci(root: Path) -> None:
    npm = shutil.which("npm")
    assert npm is not None, "npm is required (make sysdeps installs it)"
    result = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
                            cwd=root, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="session")
def dashboard_schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """JSON Schema of Grafana's `Dashboard` type, derived from the pinned @grafana/schema."""
    if not _installed_as_locked(ROOT):
        _npm_ci(ROOT)
    out = tmp_path_factory.mktemp("grafana-schema") / "dashboard.schema.json"
    generator = ROOT / "node_modules/.bin/ts-json-schema-generator"
    result = subprocess.run([str(generator), "--path", str(ROOT / DASHBOARD_TYPES), "--type", "Dashboard",
                             "--no-type-check", "--out", str(out)],
                            capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    schema: dict[str, Any] = json.loads(out.read_text())
    return schema


@pytest.fixture(scope="session")
def dashboards() -> dict[str, dict[str, Any]]:
    """File stem -> parsed dashboard JSON, for every dashboards/*.json."""
    return {p.stem: json.loads(p.read_text()) for p in sorted((ROOT / "dashboards").glob("*.json"))}
