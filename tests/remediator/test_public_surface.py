"""remediator's public surface, pinned: the names the service (webhook/) imports from it.

remediator never imports webhook (an import-linter contract); this test pins the other direction, httpx-style: a
change of what webhook needs from the engine shows up here and is a deliberate edit of SURFACE.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: module: the names webhook imports from it (one line per module)
PINNED = """
remediator.cli: main
remediator.cluster: Cluster ClusterError
remediator.durations: PATTERN parse_duration
remediator.engine: Alert Engine
remediator.events: EventKind RunEvent
remediator.kube: ClusterAccess connect
remediator.loader: RunbookError load_runbooks
remediator.matching: Matcher Op matches_all parse_matcher
remediator.prometheus: Prometheus
remediator.records: ApprovalDecision ApprovalRecord AuditEntry Effects NewRun Outcome Phase RunRecord RunStatus
remediator.records: StepOutcome StepRecord
remediator.runbook: Runbook
remediator.settings: EngineSettings
remediator.store: ACTIVE HOUR fits_budget
"""


def _parse(text: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for line in text.strip().splitlines():
        module, names = line.split(":")
        out.setdefault(module.strip(), set()).update(names.split())
    return out


def used_by_webhook() -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    for path in (ROOT / "webhook").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "remediator":
                used.setdefault(node.module, set()).update(a.name for a in node.names)
    return used


def test_the_service_uses_exactly_the_pinned_surface() -> None:
    assert used_by_webhook() == _parse(PINNED)


def test_every_pinned_name_exists() -> None:
    for module, names in _parse(PINNED).items():
        mod = importlib.import_module(module)
        assert [n for n in sorted(names) if not hasattr(mod, n)] == [], module
