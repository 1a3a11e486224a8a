"""The running engine's parts, built once from the config and handed to the routers (no globals)."""

from __future__ import annotations

from dataclasses import dataclass

from webhook.auth import Credentials
from webhook.config import TocsinConfig
from webhook.hooks import Hooks
from webhook.ingest import Clock, Ingestor
from webhook.store.db import Database


@dataclass
class Service:
    cfg: TocsinConfig
    creds: Credentials
    db: Database
    ingestor: Ingestor
    clock: Clock
    #: In-transaction follow-up work of incident changes (escalation, remediation register here).
    hooks: Hooks
