"""`verified_grace` is honoured: after a verified run the held escalation step is due at verified + grace, not at
the end of the hold it was deferred to (open + hold_escalation_for), so an alert still firing is paged then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.support.escalation_env import run
from tests.support.remediation_escalated import NONE, ONCE, Factory, RemEnv, pages

GRACE_ME = """
id: grace-me
description: add a replica; verification holds at once
owner: team-test
match: ['alertname="GraceMe"']
target: {namespace: "{{ labels.namespace }}", deployment: "{{ labels.deployment }}"}
steps: [{action: scale, by: 1, max: 10}]
verify: {query: vector(1), within: 2m, interval: 30s}
safety: {cooldown: 0s, hold_escalation_for: 15m}
"""


def held_due(env: RemEnv, incident: int) -> list[datetime]:
    """due_at of the incident's held escalation steps (SQLite stores text, PostgreSQL a timestamp)."""
    engine = create_engine(env.h.cfg.database_url())
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT due_at FROM escalation_steps WHERE incident_id = :i AND state = 'held'"),
                            {"i": incident}).all()
    engine.dispose()
    values = [datetime.fromisoformat(r[0]) if isinstance(r[0], str) else r[0] for r in rows]
    return [v if v.tzinfo else v.replace(tzinfo=UTC) for v in values]


async def test_the_held_step_is_due_at_verified_plus_grace_while_the_alert_fires(
        renv: Factory, tmp_path: Path) -> None:
    (tmp_path / "runbooks").mkdir(exist_ok=True)
    (tmp_path / "runbooks" / "grace-me.yaml").write_text(GRACE_ME)
    env = await renv()  # verified_grace: 5m (the default)
    opened = env.h.clock()
    iid = await env.page(alertname="GraceMe", deployment="api", team="platform")
    await run(env.h)  # the first step is due at once and held until open + 15m
    assert held_due(env, iid) == [opened + timedelta(minutes=15)]
    await env.rem.drain()  # verified at the first query
    verified = env.h.clock()
    kinds = [e["kind"] for e in (await env.incident(iid))["timeline"]]
    assert "remediation_verified" in kinds and (await env.incident(iid))["state"] == "triggered"
    assert held_due(env, iid) == [verified + timedelta(minutes=5)]  # before the fix: still open + 15m
    await run(env.h, minutes=4.5)
    assert pages(env) == NONE  # still in the grace: the alert's resolve could stop the escalation
    await run(env.h, minutes=1)
    assert pages(env) == ONCE and env.h.clock() - opened < timedelta(minutes=15)
    assert held_due(env, iid) == []
