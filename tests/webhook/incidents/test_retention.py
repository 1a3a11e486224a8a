"""Retention (issue 10): resolved incidents older than incidents.retention go with their history; open ones,
recent ones, and runbook runs stay; 0 keeps everything."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from tests.support.harness import make_config
from tests.support.payloads import alert, payload
from webhook.incidents import actions
from webhook.incidents.tables import alert_journal, alerts, incident_events, incident_feedback, incidents, receipts
from webhook.ingest.batch import ingest_batch
from webhook.ingest.prepare import decode
from webhook.report.repo import set_feedback
from webhook.retention import Retention
from webhook.store.db import Database
from webhook.store.migrate import upgrade

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _count(db: Database, table: Any) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


async def test_old_resolved_history_is_deleted_and_the_rest_kept(db_url: str, tmp_path: Path) -> None:
    cfg = make_config(db_url, tmp_path)
    db = Database.from_url(db_url)
    upgrade(db.engine)
    try:
        old = alert(pod="old", starts=T0)
        for body, at in ((payload(old), T0), (payload({**old, "status": "resolved",
                                                        "endsAt": (T0 + timedelta(minutes=5)).isoformat()}),
                                              T0 + timedelta(minutes=5)),
                         (payload(alert(pod="still-open", starts=T0)), T0),
                         (payload(alert(pod="recent", alertname="Recent", starts=T0 + timedelta(days=300))),
                          T0 + timedelta(days=300))):
            db.run_write(ingest_batch, [decode(json.dumps(body).encode(), cfg)], at, cfg.incidents.flap)
        with db.engine.connect() as conn:
            recent = conn.execute(select(incidents.c.id).where(incidents.c.title.contains("Recent"))).scalar()
        if recent is not None:
            db.run_write(actions.act, recent, "resolve", "alice", T0 + timedelta(days=301))
        with db.engine.connect() as conn:
            ids = [r.id for r in conn.execute(select(incidents.c.id))]
        for i in ids:  # "was this actionable?" answers go with their incident
            db.run_write(set_feedback, i, "alice", True, "api", T0 + timedelta(days=302))
        before = (_count(db, incidents), _count(db, alerts), _count(db, incident_events), _count(db, receipts))
        journal = _count(db, alert_journal)
        assert journal == 4  # every delivery above changed something: journaled (repeats would not be)
        now = T0 + timedelta(days=500)
        assert await Retention(db, timedelta(0)).tick(now) == 0  # 0: keep everything
        assert await Retention(db, timedelta(days=400)).tick(now) == 1
        assert _count(db, incidents) == before[0] - 1
        assert _count(db, alerts) < before[1] and _count(db, incident_events) < before[2]
        assert _count(db, incident_feedback) == _count(db, incidents) == len(ids) - 1
        assert _count(db, alert_journal) == 1  # by age: only the recent alert's delivery is left
        with db.engine.connect() as conn:
            left = sorted(r.state for r in conn.execute(select(incidents.c.state)))
        assert "triggered" in left  # the open incident stays, however old
    finally:
        db.close()
