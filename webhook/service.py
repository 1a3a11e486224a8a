"""The running engine's parts, built once from the config and handed to the routers (no globals), and the one
place where the hooks that run inside every incident transaction are put in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from webhook.auth import Credentials
from webhook.clock import Clock
from webhook.config import TocsinConfig
from webhook.escalation.service import Escalation
from webhook.incidents.events import Hooks
from webhook.ingest.writer import IngestSink
from webhook.remediation.requests import RemediationRequests
from webhook.store.db import Database
from webhook.store.leader import Leadership


class Worker(Protocol):
    async def tick(self, now: datetime | None = None) -> int:
        """Periodic work read from the database (escalation steps and the outbox, remediation requests)."""
        ...


@dataclass
class Service:
    cfg: TocsinConfig
    creds: Credentials
    db: Database
    ingestor: IngestSink
    clock: Clock
    #: In-transaction follow-up work of incident changes (register_hooks puts escalation and remediation here).
    hooks: Hooks
    #: Run by the ticker after the incident timers (escalation, remediation).
    workers: list[Worker] = field(default_factory=list)
    #: Run by the ticker after the workers, only on the replica that holds the leadership (webhook/leader.py), and
    #: gating themselves to a slower pace: jobs that must not run twice at once (retention, reconcile).
    singletons: list[Worker] = field(default_factory=list)
    #: Who runs the singletons; None: this process alone (tests, one replica on SQLite).
    leader: Leadership | None = None


def register_hooks(hooks: Hooks, *, escalation: Escalation, requests: RemediationRequests | None) -> Hooks:
    """The hooks of every incident transaction, in their one order, for the service and the ingest process alike.

    Remediation's run requests come first: the escalation hold they write is in the transaction before
    escalation reads it. Then escalation (runs, steps, state updates). `requests` is None when remediation is off.
    """
    if requests is not None:
        hooks.add(requests)
    hooks.add(escalation)
    return hooks
