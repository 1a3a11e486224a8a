"""Retention: alert history older than `incidents.retention` is deleted, a bounded chunk per run.

Only resolved incidents go (with their alerts, timeline, feedback, escalation runs and steps, deliveries and run
requests), and webhook receipts by age; runbook runs and their audit trail stay. It spans every feature's
tables, so it sits beside the service wiring, not in a feature.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from webhook.escalation.tables import escalation_runs, escalation_steps
from webhook.incidents.tables import alert_journal, alerts, incident_events, incident_feedback, incidents, receipts
from webhook.notifiers.tables import deliveries
from webhook.remediation.tables import remediation_requests
from webhook.signin import repo as signin_repo
from webhook.store.db import Connection, Database, StorageUnavailable

log = logging.getLogger(__name__)

#: Incidents deleted per transaction: short transactions, so ingest never waits long behind retention.
CHUNK = 500


Fence = Callable[[Connection], bool]


def prune(conn: Connection, before: datetime, limit: int = CHUNK, fence: Fence | None = None) -> int:
    """Delete up to `limit` incidents resolved before `before`, with everything that refers to them.

    `fence` (the leadership's lock check) runs in the same transaction: a replica that lost the leadership
    while it was hung deletes nothing."""
    if fence is not None and not fence(conn):
        return 0
    ids = [r.id for r in conn.execute(select(incidents.c.id).where(
        incidents.c.state == "resolved", incidents.c.resolved_at < before).order_by(incidents.c.id).limit(limit))]
    if ids:
        runs = select(escalation_runs.c.id).where(escalation_runs.c.incident_id.in_(ids)).scalar_subquery()
        conn.execute(delete(escalation_steps).where(escalation_steps.c.run_id.in_(runs)))
        for table in (escalation_runs, deliveries, remediation_requests, incident_events, incident_feedback, alerts):
            conn.execute(delete(table).where(table.c.incident_id.in_(ids)))
        conn.execute(delete(incidents).where(incidents.c.id.in_(ids)))
    # the alert journal goes by age, like receipts (its rows refer to no row: episodes by fingerprint and time)
    conn.execute(delete(alert_journal).where(alert_journal.c.id.in_(
        select(alert_journal.c.id).where(alert_journal.c.at < before).order_by(alert_journal.c.id).limit(limit * 20)
        .scalar_subquery())))
    conn.execute(delete(receipts).where(receipts.c.id.in_(
        select(receipts.c.id).where(receipts.c.received_at < before).limit(limit).scalar_subquery())))
    return len(ids)


class Retention:
    """A ticker worker: at most once per `every`, prune history older than `max_age` (0: keep everything)."""

    def __init__(self, db: Database, max_age: timedelta, every: timedelta = timedelta(hours=1),
                 fence: Fence | None = None) -> None:
        self.db, self.max_age, self.every, self.fence = db, max_age, every, fence
        self._next: datetime | None = None

    async def tick(self, now: datetime | None = None) -> int:
        if now is None or (self._next is not None and now < self._next):
            return 0
        self._next = now + self.every
        try:  # expired sign-in codes and console sessions go whatever incidents.retention says
            await self.db.write(signin_repo.purge, now)
        except StorageUnavailable as exc:
            log.warning("retention of sign-in sessions skipped: %s", exc)
        if not self.max_age:
            return 0
        total = 0
        try:
            while (n := await self.db.write(prune, now - self.max_age, CHUNK, self.fence)) == CHUNK:
                total += n
            total += n
        except StorageUnavailable as exc:
            log.warning("retention skipped: %s", exc)
        if total:
            log.info("retention: deleted %d incidents resolved before %s", total, (now - self.max_age).isoformat())
        return total
