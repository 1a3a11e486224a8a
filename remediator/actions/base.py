"""What every action shares: the step base model, the context it runs in, and its plan/apply result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from remediator.cluster import Change, Cluster, WorkloadKind
from remediator.names import NameRule
from remediator.target import Target
from remediator.templating import check_syntax, render, render_name, render_promql, render_url


def _template(value: str) -> str:
    check_syntax(value)
    return value


#: A string that may contain `{{ labels.x }}` / `{{ target.x }}`; syntax is checked at load time.
TemplateStr = Annotated[str, AfterValidator(_template)]


class StepBase(BaseModel):
    """Fields every step has besides its action's parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str | None = Field(None, description="Human description shown in plans and the timeline.")
    dangerous: bool = Field(
        False, description="Require approval before this step (drain, and steps over an approval threshold, "
        "always do).")


class PromQuery(Protocol):
    """The part of the Prometheus client actions and the engine use."""

    async def holds(self, query: str) -> bool:
        """True when the query returns at least one sample (the PromQL notion of a condition)."""
        ...


class HttpCaller(Protocol):
    """Performs an allow-listed HTTP call; returns the status code."""

    async def __call__(self, method: str, url: str, body: dict[str, str] | None,
                       timeout_seconds: float) -> int: ...


class StepRefused(Exception):
    """The action decided not to act (e.g. a deploy happened minutes ago); the run ends refused/escalated."""

    def __init__(self, reason: str, *, escalate: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.escalate = escalate


class StepFailed(Exception):
    """The action was attempted and did not achieve its effect (timeout, PDB kept refusing...)."""


@dataclass
class ActionContext:
    """Everything an action may use. Built by the engine per step; actions import nothing else."""

    cluster: Cluster
    prometheus: PromQuery
    target: Target
    template_context: Mapping[str, Any]
    now: Callable[[], datetime]
    sleep: Callable[[float], Awaitable[None]]
    emit: Callable[[str], Awaitable[None]]
    http: HttpCaller
    http_allowlist: tuple[str, ...]
    #: Why the engine may not act in a namespace, or None (EngineSettings.namespace_problem): for actions that
    #: reach beyond the target's namespace, such as a drain evicting every pod of a node.
    namespace_problem: Callable[[str], str | None]
    field: str = "step"
    #: The run's id: actions that create objects name them after (run, step), so a retry finds its own.
    run_id: str = ""

    def text(self, template: str, what: str) -> str:
        return render(template, self.template_context, f"{self.field}.{what}")

    def url(self, template: str, what: str = "url") -> str:
        """Render a URL; every interpolated value is percent-encoded (it cannot add a path segment, a query
        or a fragment)."""
        return render_url(template, self.template_context, f"{self.field}.{what}")

    def promql(self, template: str, what: str = "query") -> str:
        return render_promql(template, self.template_context, f"{self.field}.{what}")

    def name(self, template: str | None, default: str | None, what: str,
             rule: NameRule = NameRule.SUBDOMAIN) -> str:
        """Render an object name (or take the target's), validated by Kubernetes name rules."""
        source = template if template is not None else default
        if source is None:
            raise StepRefused(f"{self.field}.{what}: not given and the runbook's target has no {what}")
        return render_name(source, self.template_context, f"{self.field}.{what}", rule)

    def namespace(self) -> str:
        if not self.target.namespace:
            raise StepRefused(f"{self.field}: the runbook's target has no namespace")
        return self.target.namespace

    def workload_name(self, kind: WorkloadKind, template: str | None) -> str:
        default = self.target.deployment if kind is WorkloadKind.DEPLOYMENT else self.target.statefulset
        return self.name(template, default, kind.value.lower())


Apply = Callable[[bool], Awaitable[Change]]


@dataclass
class Planned:
    """What a step will do, worked out with read-only calls; `apply(dry_run)` does it."""

    summary: str
    apply: Apply | None = None  # None: nothing to do (read-only check passed, or already in the state)
    mutating: bool = False  # changes the cluster or the outside world (dry run applies)
    dangerous: bool = False  # requires approval
    approval_timeout: timedelta | None = None
    pods_deleted: int = 0  # blast-radius accounting
    nodes_cordoned: int = 0
    touches_nodes: bool = False  # refused when too few nodes are Ready
    details: dict[str, object] = field(default_factory=dict)
