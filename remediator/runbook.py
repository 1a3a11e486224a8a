"""The runbook format as pydantic models: the single source of truth for validation and schema.json."""

from __future__ import annotations

import json
from datetime import timedelta
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from remediator.actions import Step
from remediator.actions.base import TemplateStr
from remediator.durations import Duration
from remediator.matching import Matcher, parse_matcher

SCHEMA_MODELINE = "# yaml-language-server: $schema=./schema.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TargetSpec(_Strict):
    """Which alert labels name the objects acted on. Each value is a template rendered in a sandbox and
    checked against Kubernetes name rules (a hostile label value refuses the run)."""

    namespace: TemplateStr | None = Field(None, examples=["{{ labels.namespace }}"])
    deployment: TemplateStr | None = None
    statefulset: TemplateStr | None = None
    pod: TemplateStr | None = None
    container: TemplateStr | None = None
    node: TemplateStr | None = None
    hpa: TemplateStr | None = None
    pvc: TemplateStr | None = None
    workload_from_pod: bool = Field(
        False, description="Find the Deployment/StatefulSet owning `pod` (read-only lookup) and target it.")


class Condition(_Strict):
    """A PromQL expression that holds when it returns at least one sample."""

    query: TemplateStr = Field(description="PromQL; interpolated values are escaped for string literals.")
    description: str | None = None


class Verify(_Strict):
    """After the steps, `query` must hold within `within` or the run failed."""

    query: TemplateStr
    within: Duration
    interval: Duration = Field(default=timedelta(seconds=10))


class OnFailure(_Strict):
    """What happens when verification fails, an action fails or an approval times out."""

    escalate: bool = Field(True, description="Resume the incident's escalation (page a human).")
    rollback: list[Step] = Field(default_factory=list, description="Steps run (guarded) before escalating.")


class BlastRadius(_Strict):
    """Limits counted over all runs in `window` (the engine's global limits apply too: the lower wins)."""

    max_pods_deleted: int = Field(5, ge=0)
    max_nodes_cordoned: int = Field(1, ge=0)
    window: Duration = Field(default=timedelta(hours=1))
    min_ready_nodes_percent: int = Field(80, ge=0, le=100,
                                         description="Refuse node actions when fewer nodes are Ready.")


class CircuitBreaker(_Strict):
    """Stop this runbook after `failures` failed verifications within `window`, and escalate instead."""

    failures: int = Field(3, ge=1)
    window: Duration = Field(default=timedelta(hours=24))


class Safety(_Strict):
    """The safety envelope of this runbook (see docs/runbooks.md)."""

    dry_run: bool = Field(False, description="Use server-side dry run for every mutating call.")
    cooldown: Duration = Field(default=timedelta(minutes=30), description="Minimum time between runs per target.")
    max_runs_per_hour: int = Field(3, ge=1, description="Per target.")
    approval_timeout: Duration = Field(default=timedelta(minutes=30),
                                       description="How long a dangerous step waits for approval.")
    hold_escalation_for: Duration = Field(
        default=timedelta(minutes=10), description="Hold the incident's escalation this long while the run works.")
    blast_radius: BlastRadius = Field(default_factory=BlastRadius)
    circuit_breaker: CircuitBreaker = Field(default_factory=CircuitBreaker)


class Runbook(_Strict):
    """One runbook: when it applies, what it acts on, what it does, how success is checked."""

    model_config = ConfigDict(extra="forbid", frozen=True, ignored_types=(cached_property,),
                              json_schema_extra={"title": "Tocsin runbook"})

    id: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)
    description: str
    owner: str = Field(description="Team or person responsible, e.g. team-platform.")
    match: list[str] = Field(min_length=1, description='Alertmanager matchers, e.g. alertname="KubeNodeNotReady".')
    target: TargetSpec
    preconditions: list[Condition] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1)
    verify: Verify | None = None
    on_failure: OnFailure = Field(default_factory=OnFailure)
    safety: Safety = Field(default_factory=Safety)

    @field_validator("match")
    @classmethod
    def _matchers(cls, value: list[str]) -> list[str]:
        for text in value:
            parse_matcher(text)
        return value

    @cached_property
    def matchers(self) -> list[Matcher]:
        return [parse_matcher(text) for text in self.match]

    def matches(self, labels: dict[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)


def json_schema() -> dict[str, Any]:
    """The JSON Schema editors use to complete and check runbooks."""
    schema = Runbook.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
