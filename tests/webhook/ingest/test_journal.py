"""The alert journal (what `tocsin replay` replays): every delivery that changed something, in arrival order, with
the decision it got; repeats are not journaled; an update keeps its annotations."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from tests.support.harness import make_config
from tests.support.payloads import alert, payload
from webhook.incidents.tables import alert_journal
from webhook.ingest.batch import ingest_batch
from webhook.ingest.prepare import decode
from webhook.store.db import Database
from webhook.store.migrate import upgrade

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def test_changes_are_journaled_repeats_are_not(db_url: str, tmp_path: Path) -> None:
    cfg = make_config(db_url, tmp_path)
    db = Database.from_url(db_url)
    upgrade(db.engine)
    try:
        a, b = alert(pod="a", starts=T0), alert(pod="b", starts=T0)
        changed = {**a, "annotations": {"summary": "worse now"}}
        resolved = {**changed, "status": "resolved", "endsAt": (T0 + timedelta(minutes=9)).isoformat()}
        steps = [(payload(a, b), 0), (payload(a, b), 1), (payload(a, b), 2),  # two repeats: not journaled
                 (payload(changed, b), 3), (payload(resolved, b), 9), (payload(resolved), 10)]
        for body, minute in steps:
            db.run_write(ingest_batch, [decode(json.dumps(body).encode(), cfg)], T0 + timedelta(minutes=minute),
                         cfg.incidents.flap)
        with db.engine.connect() as conn:
            rows = conn.execute(select(alert_journal).order_by(alert_journal.c.id)).all()
    finally:
        db.close()
    got = [(r.at - T0, r.fingerprint, r.status, r.reason) for r in rows]
    assert got == [
        (timedelta(0), a["fingerprint"], "firing", "new"),
        (timedelta(0), b["fingerprint"], "firing", "join"),
        (timedelta(minutes=3), a["fingerprint"], "firing", "update"),
        (timedelta(minutes=9), a["fingerprint"], "resolved", "resolve"),
    ]
    assert [r.annotations for r in rows] == [None, None, {"summary": "worse now"}, None]
    assert rows[0].incident_id == rows[1].incident_id == rows[3].incident_id is not None
