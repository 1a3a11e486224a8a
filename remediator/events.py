"""What the engine tells the outside world: progress events for the incident timeline, and metric hooks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from remediator.records import Outcome, StepOutcome


class EventKind(StrEnum):
    """Kinds of progress events, in the order a run emits them."""

    STARTED = "started"  # carries hold_escalation_until
    PROGRESS = "progress"  # a step did something ("scale Deployment shop/api 3 -> 5")
    MESSAGE = "message"  # the notify action: post to the incident's channels
    AWAITING_APPROVAL = "awaiting_approval"  # ask approvers (Slack buttons, console, API)
    VERIFYING = "verifying"
    FINISHED = "finished"  # carries outcome and page


@dataclass(frozen=True)
class RunEvent:
    """One line for the incident timeline; `page=True` means: resume the escalation now."""

    run_id: str
    runbook_id: str
    incident_id: str | None
    kind: EventKind
    message: str
    at: datetime
    outcome: Outcome | None = None
    page: bool = False
    hold_escalation_until: datetime | None = None
    step_index: int | None = None  # for AWAITING_APPROVAL: what to approve


EventSink = Callable[[RunEvent], Awaitable[None]]


async def discard_event(event: RunEvent) -> None:
    """The default sink."""


class Metrics(Protocol):
    """Counters the service maps onto webhook.metrics (remediator cannot import webhook)."""

    def run_finished(self, runbook_id: str, outcome: Outcome) -> None: ...
    def action_attempted(self, action: str, outcome: StepOutcome) -> None: ...
    def guard_refused(self, guard: str) -> None: ...
    def verified_after(self, runbook_id: str, seconds: float) -> None: ...


class NullMetrics:
    """Metrics that go nowhere (CLI, tests)."""

    def run_finished(self, runbook_id: str, outcome: Outcome) -> None:
        pass

    def action_attempted(self, action: str, outcome: StepOutcome) -> None:
        pass

    def guard_refused(self, guard: str) -> None:
        pass

    def verified_after(self, runbook_id: str, seconds: float) -> None:
        pass
