"""The running engine's parts, built once from the config and handed to the routers (no globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from webhook.auth import Credentials
from webhook.clock import Clock
from webhook.config import TocsinConfig
from webhook.incidents.events import Hooks
from webhook.ingest.writer import IngestSink
from webhook.store.db import Database


class Worker(Protocol):
    async def tick(self, now: datetime | None = None) -> int:
        """Periodic work read from the database (escalation steps, outbox)."""
        ...


@dataclass
class Service:
    cfg: TocsinConfig
    creds: Credentials
    db: Database
    ingestor: IngestSink
    clock: Clock
    #: In-transaction follow-up work of incident changes (escalation, remediation register here).
    hooks: Hooks
    #: Run by the ticker after the incident timers (escalation registers here).
    workers: list[Worker] = field(default_factory=list)
