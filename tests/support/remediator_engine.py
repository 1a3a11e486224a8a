"""An engine test kit for the remediator tests: a small runbook to vary, an alert for it, a recorder of events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from remediator.engine import Alert
from remediator.events import RunEvent
from remediator.loader import parse_runbook
from remediator.records import Outcome, StepOutcome
from remediator.runbook import Runbook

BASE: dict[str, Any] = {
    "id": "scale-api", "description": "d", "owner": "o", "match": ['alertname="X"'],
    "target": {"namespace": "{{ labels.namespace }}", "deployment": "{{ labels.deployment }}"},
    "steps": [{"action": "scale", "by": 1, "max": 10}],
    "verify": {"query": "up", "within": "1m", "interval": "10s"},
    "safety": {"cooldown": "10m", "max_runs_per_hour": 2},
}


def runbook(**changes: Any) -> Runbook:
    return parse_runbook(yaml.safe_dump({**BASE, **changes}), "test.yaml")


@dataclass
class Recorder:
    events: list[RunEvent] = field(default_factory=list)
    finished: list[tuple[str, Outcome]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    actions: list[tuple[str, StepOutcome]] = field(default_factory=list)
    verified: list[float] = field(default_factory=list)

    async def sink(self, event: RunEvent) -> None:
        self.events.append(event)

    def run_finished(self, runbook_id: str, outcome: Outcome) -> None:
        self.finished.append((runbook_id, outcome))

    def action_attempted(self, action: str, outcome: StepOutcome) -> None:
        self.actions.append((action, outcome))

    def guard_refused(self, guard: str) -> None:
        self.refusals.append(guard)

    def verified_after(self, runbook_id: str, seconds: float) -> None:
        self.verified.append(seconds)


def alert(episode: str = "1", **labels: str) -> Alert:
    return Alert({"alertname": "X", "namespace": "shop", "deployment": "api", **labels}, {}, "fp", episode)
