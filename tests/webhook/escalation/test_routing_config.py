"""Routing tree, policy config checks, `tocsin route test` / `oncall who`, schedules API and tick cost."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.escalation_env import CALENDAR_TOKEN, ONCALL, READER_TOKEN, Env
from tests.support.payloads import alert, payload
from webhook.cli import main
from webhook.config import load_config
from webhook.config.escalation import EscalationConfig
from webhook.escalation.routing import route
from webhook.store.migrate import upgrade
from webhook.yamlpos import ConfigError

SAT_NIGHT = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
MON_NOON = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[3]


def tree(**root: object) -> EscalationConfig:
    names = ["critical", "high", "medium", "low", "db", "night"]
    policies = [{"name": n, "steps": [{"targets": [{"slack": f"#{n}"}]}]} for n in names]
    return EscalationConfig(policies=policies, route=root)


def test_first_match_wins_and_children_inherit_the_policy() -> None:
    cfg = tree(policy="high", routes=[
        {"matchers": ['severity="critical"'], "policy": "critical",
         "routes": [{"name": "db", "matchers": ["team=~db|storage"], "policy": "db"}, {"matchers": ["env!=prod"]}]},
        {"matchers": ['severity="critical"'], "policy": "low"},  # never reached: first match wins
    ])
    assert [m.policy for m in route(cfg, {"severity": "critical", "team": "db"}, SAT_NIGHT)] == ["db"]
    assert route(cfg, {"severity": "critical", "env": "dev"}, SAT_NIGHT)[0].path == "root/0/1"
    assert [m.policy for m in route(cfg, {"severity": "critical", "env": "prod"}, SAT_NIGHT)] == ["critical"]
    assert [m.policy for m in route(cfg, {"severity": "warning"}, SAT_NIGHT)] == ["high"]


def test_continue_collects_several_policies_and_time_conditions_apply() -> None:
    hours = [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00", "timezone": "Europe/Berlin"}]
    cfg = tree(routes=[
        {"matchers": ["team=db"], "policy": "db", "continue": True},
        {"matchers": ["severity=medium"], "active_time": hours, "policy": "medium"},
        {"matchers": ["severity=medium"], "policy": "night"},
    ])
    labels = {"team": "db", "severity": "medium"}
    assert [m.policy for m in route(cfg, labels, MON_NOON)] == ["db", "medium"]
    assert [m.policy for m in route(cfg, labels, SAT_NIGHT)] == ["db", "night"]
    assert route(cfg, {"severity": "none"}, SAT_NIGHT) == []  # no policy anywhere: nobody is paged


@pytest.mark.parametrize(("escalation", "needle"), [
    ({"route": {"policy": "nope"}}, "unknown policy: nope"),
    ({"route": {"matchers": ['severity=~"("']}}, "invalid regular expression"),
    ({"policies": [{"name": "x", "steps": [{"targets": [{"user": "zed"}]}]}]}, "unknown responder 'zed'"),
    ({"policies": [{"name": "x", "steps": [{"targets": [{"user": "alice", "slack": "#a"}]}]}]}, "exactly one"),
    ({"policies": [{"name": "x", "steps": [{"after": "10m", "targets": [{"slack": "#a"}]},
                                           {"after": "5m", "targets": [{"slack": "#b"}]}]}]}, "ordered"),
    ({"policies": [{"name": "x"}]}, "give steps or a digest"),
    ({"policies": [{"name": "x", "steps": [{"targets": [{"schedule": "nightly"}]}]}]}, "unknown schedule"),
])
def test_bad_escalation_config_is_rejected_with_its_location(tmp_path: Path, escalation: dict, needle: str) -> None:
    import yaml

    p = tmp_path / "tocsin.yaml"
    p.write_text(yaml.safe_dump({"oncall": ONCALL, "escalation": escalation}))
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert needle in str(exc.value) and str(p) in str(exc.value)


def test_route_test_and_oncall_who_cli(capsys: pytest.CaptureFixture[str]) -> None:
    example = str(REPO / "examples/tocsin.yaml")
    assert main(["route", "test", "--config", example, "--at", "2026-11-28T03:00:00Z", "severity=critical"]) == 0
    out = capsys.readouterr().out
    assert "policy critical (route root/critical)" in out and "step 2 at +5m" in out and "repeats 2x" in out
    assert main(["route", "test", "--config", example, "--at", "2026-11-28T03:00:00Z", "severity=medium"]) == 0
    assert "(2026-11-30T08:00:00+00:00)" in capsys.readouterr().out  # waits for Monday 09:00 in Berlin
    assert main(["oncall", "who", "--config", example, "--at", "2026-11-28T03:00:00Z",
                 "--schedule", "platform-primary"]) == 0
    assert "platform-primary: bob" in capsys.readouterr().out


async def test_schedule_ical_and_who_is_on_call_api(env: Env) -> None:
    r = await env.h.client.get("/api/v1/schedules/primary.ics")
    assert r.status_code == 401
    r = await env.h.client.get("/api/v1/schedules/primary.ics", params={"token": CALENDAR_TOKEN})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    assert b"BEGIN:VEVENT" in r.content and b"On call: alice (primary)" in r.content
    assert (await env.h.api("GET", "/api/v1/schedules/primary.ics")).content == r.content  # header, read scope


async def test_only_a_calendar_token_may_sit_in_a_subscription_url(env: Env) -> None:
    """Finding 16: a URL ends up in calendar servers and proxy logs, so `?token=` takes calendar tokens only,
    and those can do nothing but read shifts."""
    full = await env.h.client.get("/api/v1/schedules/primary.ics", params={"token": "api-token-0123456789abcdef"})
    assert full.status_code == 403 and "may not be sent in a URL" in full.json()["detail"]
    reader = await env.h.client.get("/api/v1/oncall", params={"token": READER_TOKEN})
    assert reader.status_code == 403
    wrong = await env.h.client.get("/api/v1/schedules/primary.ics", params={"token": "x" * 30})
    assert wrong.status_code == 401
    calendar = {"Authorization": f"Bearer {CALENDAR_TOKEN}"}
    assert (await env.h.client.get("/api/v1/oncall", headers=calendar)).status_code == 200
    assert (await env.h.client.get("/api/v1/oncall", params={"token": CALENDAR_TOKEN})).status_code == 200
    listing = await env.h.client.get("/api/v1/incidents", headers=calendar)
    assert listing.status_code == 403 and "'calendars' lacks the 'read' scope" in listing.json()["detail"]
    await env.h.post_webhook(payload(alert(alertname="Disk")))
    [inc] = (await env.h.api("GET", "/api/v1/incidents")).json()["incidents"]
    ack = await env.h.client.post(f"/api/v1/incidents/{inc['id']}/ack", headers=calendar)
    assert ack.status_code == 403 and "'respond' scope" in ack.json()["detail"]
    read_only = {"Authorization": f"Bearer {READER_TOKEN}"}
    assert (await env.h.client.get("/api/v1/incidents", headers=read_only)).status_code == 200
    assert (await env.h.client.get("/api/v1/schedules/primary.ics", headers=read_only)).status_code == 200
    refused = await env.h.client.post(f"/api/v1/incidents/{inc['id']}/resolve", headers=read_only)
    assert refused.status_code == 403 and "'bob' lacks the 'respond' scope" in refused.json()["detail"]
    assert (await env.h.api("GET", f"/api/v1/incidents/{inc['id']}")).json()["state"] == "triggered"
    assert (await env.h.api("GET", "/api/v1/schedules/nope.ics")).status_code == 404
    who = (await env.h.api("GET", "/api/v1/oncall", params={"schedule": "secondary"})).json()
    assert who["schedules"] == [{"name": "secondary", "oncall": [{"name": "bob", "full_name": None,
                                                                  "source": "weekly"}]}]
    r = await env.h.api("GET", "/api/v1/oncall", params={"at": "2026-11-28T03:00:00"})
    assert r.status_code == 422


@pytest.mark.parametrize(("query", "index"), [
    ("SELECT * FROM escalation_steps WHERE state = 'pending' AND due_at <= '2026-01-01' ORDER BY due_at LIMIT 200",
     "ix_escalation_steps_state_due"),
    ("SELECT * FROM deliveries WHERE status = 'pending' AND next_attempt_at <= '2026-01-01'"
     " ORDER BY next_attempt_at LIMIT 100", "ix_deliveries_status_next"),
])
def test_a_tick_reads_due_rows_through_an_index(tmp_path: Path, query: str, index: str) -> None:
    """Cost grows with the due rows, not with every pending timer: the claim is an index range scan."""
    engine = create_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        plan = " ".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {query}")))
    engine.dispose()
    assert f"USING INDEX {index}" in plan and "TEMP B-TREE" not in plan
