"""`tocsin runbook test`: run each runbook's test cases (runbooks/tests/<id>.yaml) against a FakeCluster."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from remediator.engine import Alert, Engine
from remediator.fakecluster import ClusterSpec, FakeCluster
from remediator.records import Outcome, RunRecord, RunStatus
from remediator.runbook import Runbook
from remediator.settings import EngineSettings
from remediator.store import MemoryStore

EPOCH = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AlertSpec(_Strict):
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)


class PrometheusSpec(_Strict):
    """What PromQL queries return: `holds` by default, overridden per query substring."""

    holds: bool = True
    queries: dict[str, bool] = Field(default_factory=dict)


class Expect(_Strict):
    matches: bool = True
    outcome: Outcome | None = None
    status: RunStatus = RunStatus.FINISHED
    actions: list[str] = Field(description="Exactly the mutating calls, in order (FakeCluster notation).")
    reason_contains: str | None = None


class Case(_Strict):
    name: str
    alert: AlertSpec
    cluster: ClusterSpec = Field(default_factory=ClusterSpec)
    prometheus: PrometheusSpec = Field(default_factory=PrometheusSpec)
    approve: bool | None = Field(None, description="Decide any approval request: true, false, or leave waiting.")
    dry_run: bool = False
    namespace_deny: list[str] = Field(default_factory=lambda: ["kube-system"])
    expect: Expect


class CaseFile(_Strict):
    runbook: str
    cases: list[Case] = Field(min_length=1)


@dataclass
class FakePrometheus:
    spec: PrometheusSpec

    async def holds(self, query: str) -> bool:
        for fragment, value in self.spec.queries.items():
            if fragment in query:
                return value
        return self.spec.holds


@dataclass(frozen=True)
class CaseResult:
    runbook: str
    case: str
    problems: list[str]

    @property
    def passed(self) -> bool:
        return not self.problems


class FakeClock:
    """Time that only moves when the engine sleeps."""

    def __init__(self, start: datetime = EPOCH) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


async def run_case(runbook: Runbook, case: Case) -> tuple[RunRecord, list[str]]:
    """Run one case; returns the final run and the mutating calls the FakeCluster saw."""
    clock = FakeClock()
    cluster = FakeCluster(case.cluster, clock.now())
    settings = EngineSettings(dry_run=case.dry_run, namespace_deny=tuple(case.namespace_deny))
    engine = Engine(store=MemoryStore(), cluster=cluster, prometheus=FakePrometheus(case.prometheus),
                    runbooks=[runbook], settings=settings, clock=clock.now, sleep=clock.sleep)
    alert = Alert(case.alert.labels, case.alert.annotations, fingerprint=case.name, starts_at="t0")
    run = await engine.start(runbook, alert, incident_id=f"test:{case.name}")
    for _ in range(len(runbook.steps)):
        if run.status is not RunStatus.AWAITING_APPROVAL or case.approve is None:
            break
        run = await engine.decide(run.id, case.approve, by="runbook-test")
    return run, cluster.calls


def check(run: RunRecord, calls: list[str], expect: Expect) -> list[str]:
    problems = []
    if run.status is not expect.status:
        problems.append(f"status {run.status}, expected {expect.status} ({run.reason})")
    if expect.outcome is not None and run.outcome is not expect.outcome:
        problems.append(f"outcome {run.outcome}, expected {expect.outcome} ({run.reason})")
    if calls != expect.actions:
        problems.append(f"actions {calls}, expected {expect.actions}")
    if expect.reason_contains and expect.reason_contains not in run.reason:
        problems.append(f"reason {run.reason!r} does not contain {expect.reason_contains!r}")
    return problems


def load_cases(path: Path) -> CaseFile:
    try:
        return CaseFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (ValidationError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: {exc}") from exc


def case_files(runbook_dir: Path) -> list[Path]:
    tests = runbook_dir / "tests"
    return sorted(tests.glob("*.yaml")) if tests.is_dir() else []


async def run_cases(runbooks: list[Runbook], files: list[Path]) -> list[CaseResult]:
    by_id = {r.id: r for r in runbooks}
    results = []
    for path in files:
        cases = load_cases(path)
        runbook = by_id.get(cases.runbook)
        if runbook is None:
            results.append(CaseResult(cases.runbook, str(path), [f"{path}: no runbook {cases.runbook!r}"]))
            continue
        for case in cases.cases:
            if runbook.matches(case.alert.labels) != case.expect.matches:
                results.append(CaseResult(runbook.id, case.name, [f"runbook matches the alert: "
                                                                  f"{not case.expect.matches}"]))
                continue
            if not case.expect.matches:
                results.append(CaseResult(runbook.id, case.name, []))
                continue
            run, calls = await run_case(runbook, case)
            results.append(CaseResult(runbook.id, case.name, check(run, calls, case.expect)))
    return results
