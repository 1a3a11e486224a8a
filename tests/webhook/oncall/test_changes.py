"""Overrides and swaps made at run time: stored, merged wherever a schedule is resolved, so the escalation pages
the override's person and the swapped person; consent rules; one PostgreSQL leg for the stored changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio
from tests.support.clock import FakeClock
from tests.support.escalation_env import ALICE, BOB, CAROL, ONCALL, Env, esc_config, run
from tests.support.harness import API_TOKEN, start_harness
from webhook.config import TocsinConfig
from webhook.oncall import changes, repo

BOB_TOKEN = "bob-token-0123456789abcdef"
CAROL_TOKEN = "carol-token-0123456789abcdef"
PLANNER_TOKEN = "planner-token-0123456789abcdef"
READER_TOKEN = "reader-token-0123456789abcdef"
BOB_AUTH = {"Authorization": f"Bearer {BOB_TOKEN}"}
CAROL_AUTH = {"Authorization": f"Bearer {CAROL_TOKEN}"}
PLANNER = {"Authorization": f"Bearer {PLANNER_TOKEN}"}

#: Weekly in Berlin from Monday 2026-01-05 09:00: at the suite's START (Sat 2026-11-28 04:00 Berlin) it is shift 46,
#: bob's (alice 45, bob 46, carol 47, alice 48).
SCHEDULES_ONCALL: dict[str, Any] = {**ONCALL, "schedules": [
    {"name": "primary", "timezone": "Europe/Berlin",
     "layers": [{"name": "weekly", "start": "2026-01-05", "participants": ["alice", "bob", "carol"]}]},
    {"name": "secondary", "layers": [{"name": "weekly", "start": "2026-01-05", "participants": ["bob"]}]},
]}
AUTH: dict[str, Any] = {
    "webhook": {"bearer_tokens": ["hook-token-0123456789abcdef"]},
    "api_tokens": [{"name": "alice", "token": API_TOKEN, "scopes": ["read", "respond"]},
                   {"name": "bob", "token": BOB_TOKEN, "scopes": ["read", "respond"]},
                   {"name": "carol", "token": CAROL_TOKEN, "scopes": ["read", "respond"]},
                   {"name": "planner", "token": PLANNER_TOKEN, "scopes": ["read", "respond", "schedules"]},
                   {"name": "reader", "token": READER_TOKEN, "scopes": ["read"]}]}


def schedules_config(db_url: str, tmp_path: Path, slack: FakeSlack, twilio: FakeTwilio,
                     pd: FakePagerDuty) -> TocsinConfig:
    base = esc_config(db_url, tmp_path, slack, twilio, pd).model_dump(mode="python")
    return TocsinConfig(**{**base, "oncall": SCHEDULES_ONCALL, "auth": AUTH,
                           "console": {"roles": {"schedules": ["carol"]}}})


@pytest.fixture
def start_at() -> datetime | None:
    """The fake clock's start (None: the suite's START); a test parametrizes it to move the clock."""
    return None


@pytest.fixture
async def senv(db_url: str, tmp_path: Path, fake_slack: FakeSlack, fake_twilio: FakeTwilio,
               fake_pagerduty: FakePagerDuty, start_at: datetime | None) -> AsyncIterator[Env]:
    """The escalation env with a three-person rotation in Berlin and a token per person."""
    clock = FakeClock(start_at)
    async for h in start_harness(schedules_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty), clock):
        yield Env(h, fake_slack, fake_twilio, fake_pagerduty)


def sms_to(env: Env) -> list[str]:
    """Where pages went by SMS (swap requests are texts too, told apart by their words)."""
    return [m.to for m in env.twilio.messages if "swap" not in (m.body or "").lower()]


async def override(env: Env, user: str, hours: float = 2, headers: dict[str, str] | None = None,
                   **extra: Any) -> Any:
    now = env.h.clock()
    body = {"user": user, "start": now.isoformat(), "end": (now + timedelta(hours=hours)).isoformat(), **extra}
    return await env.h.api("POST", "/api/v1/schedules/primary/overrides", json=body, headers=headers or PLANNER)


sqlite = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@sqlite
async def test_an_override_pages_its_person_and_deleting_it_gives_the_shift_back(senv: Env) -> None:
    r = await override(senv, "carol", comment="covering for bob")
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["user"] == "carol" and made["state"] == "active" and made["created_by"] == "planner"
    await senv.page(severity="critical")
    await run(senv.h)
    assert sms_to(senv) == [CAROL]
    who = (await senv.h.api("GET", "/api/v1/oncall", params={"schedule": "primary"})).json()
    assert who["schedules"][0]["oncall"] == [{"name": "carol", "full_name": None, "source": "override"}]
    r = await senv.h.api("DELETE", f"/api/v1/schedules/primary/overrides/{made['id']}", headers=PLANNER)
    assert r.status_code == 204
    who = (await senv.h.api("GET", "/api/v1/oncall", params={"schedule": "primary"})).json()
    assert [p["name"] for p in who["schedules"][0]["oncall"]] == ["bob"]
    r = await senv.h.api("DELETE", f"/api/v1/schedules/primary/overrides/{made['id']}", headers=PLANNER)
    assert r.status_code == 404


@sqlite
async def test_anyone_may_take_a_shift_themself_but_only_planners_put_others_on_call(senv: Env) -> None:
    r = await override(senv, "alice", headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert r.status_code == 201, r.text
    r = await override(senv, "carol", headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert r.status_code == 403 and "schedules" in r.json()["detail"]
    r = await override(senv, "alice", headers={"Authorization": f"Bearer {READER_TOKEN}"})
    assert r.status_code == 403  # read-only token: no respond scope


BAD_OVERRIDES: list[tuple[dict[str, Any], str]] = [
    ({"user": "zed"}, "no responder 'zed'"),
    ({"hours": -1}, "end must be after start"),
    ({"hours": 24 * 32}, "at most 31 days"),
    ({"start": "2026-11-28T02:54:00+00:00"}, "in the past"),  # 6 minutes ago
]


@sqlite
async def test_override_validation(senv: Env) -> None:
    now = senv.h.clock()
    for body, needle in BAD_OVERRIDES:
        data = {"user": body.get("user", "carol"), "start": body.get("start", now.isoformat()),
                "end": (now + timedelta(hours=body.get("hours", 2))).isoformat()}
        r = await senv.h.api("POST", "/api/v1/schedules/primary/overrides", json=data, headers=PLANNER)
        assert r.status_code == 422 and needle in r.json()["detail"], (body, r.text)
    data["start"] = "2026-11-28T02:56:00+00:00"  # 4 minutes ago: the form was filled in a moment ago
    r = await senv.h.api("POST", "/api/v1/schedules/primary/overrides", json=data, headers=PLANNER)
    assert r.status_code == 201, r.text
    r = await senv.h.api("POST", "/api/v1/schedules/nope/overrides", json={**data, "user": "carol"}, headers=PLANNER)
    assert r.status_code == 404


@sqlite
async def test_a_swap_takes_effect_only_once_the_other_person_accepts(senv: Env) -> None:
    body = {"layer": "weekly", "mine": {"at": "2026-11-28T12:00:00+01:00"},
            "theirs": {"user": "alice", "at": "2026-12-08T12:00:00+01:00"}}
    r = await senv.h.api("POST", "/api/v1/schedules/primary/swaps", json=body, headers=BOB_AUTH)
    assert r.status_code == 201, r.text
    swap = r.json()
    assert swap["state"] == "pending" and swap["mine"]["user"] == "bob" and swap["theirs"]["user"] == "alice"
    assert swap["notice"] == {"channel": "slack", "delivered": True, "error": None}  # alice's first channel
    [dm] = [m for m in senv.slack.top_level() if m.channel == "U0ALICE"]
    assert dm.text == ("bob asks to swap shifts on schedule primary (weekly): bob takes your shift at 2026-12-08 "
                       "11:00, you take bob's at 2026-11-28 11:00 (UTC). Accept or decline in the console under "
                       f"Schedules (swap #{swap['id']}).")
    waiting = (await senv.h.api("GET", "/api/v1/schedules/swaps", params={"mine": "true"})).json()["swaps"]
    assert [s["id"] for s in waiting] == [swap["id"]]  # alice sees what she is asked to agree to
    assert (await senv.h.api("GET", "/api/v1/schedules/swaps?mine=true", headers=BOB_AUTH)).json()["swaps"] == []
    r = await senv.h.api("POST", f"/api/v1/schedules/swaps/{swap['id']}/accept", headers=CAROL_AUTH)
    assert r.status_code == 403  # not carol's to accept
    r = await senv.h.api("POST", f"/api/v1/schedules/swaps/{swap['id']}/accept", headers=BOB_AUTH)
    assert r.status_code == 403  # nor the requester's
    r = await senv.h.api("POST", f"/api/v1/schedules/swaps/{swap['id']}/accept")
    assert r.status_code == 200 and r.json()["state"] == "accepted" and r.json()["decided_by"] == "alice"
    r = await senv.h.api("POST", f"/api/v1/schedules/swaps/{swap['id']}/cancel", headers=BOB_AUTH)
    assert r.status_code == 409  # decided
    await senv.page(severity="critical")
    await run(senv.h)
    assert sms_to(senv) == [ALICE]
    view = (await senv.h.api("GET", "/api/v1/schedules/primary", params={"weeks": 3})).json()
    # bob's week went to alice (joining her week before), alice's week of 2026-12-07 to bob (joining his next)
    assert [(s["user"], s["end"]) for s in view["shifts"]] == [
        ("alice", "2026-11-30T08:00:00+00:00"), ("carol", "2026-12-07T08:00:00+00:00"),
        ("bob", "2026-12-21T08:00:00+00:00")]
    assert view["now"]["user"] == "alice" and view["next"]["user"] == "carol"
    assert [s["id"] for s in view["swaps"]] == [swap["id"]]


@sqlite
async def test_declined_and_cancelled_swaps_change_nothing(senv: Env) -> None:
    body = {"layer": "weekly", "mine": {"at": "2026-11-28T12:00:00+01:00"},
            "theirs": {"user": "carol", "at": "2026-12-01T12:00:00+01:00"}}
    first = (await senv.h.api("POST", "/api/v1/schedules/primary/swaps", json=body, headers=BOB_AUTH)).json()
    r = await senv.h.api("POST", "/api/v1/schedules/primary/swaps", json=body, headers=BOB_AUTH)
    assert r.status_code == 409  # the shift is already part of a pending swap
    assert first["notice"] == {"channel": "sms", "delivered": True, "error": None}  # carol is reached by SMS
    assert [m.to for m in senv.twilio.messages] == [CAROL]
    r = await senv.h.api("POST", f"/api/v1/schedules/swaps/{first['id']}/decline", headers=CAROL_AUTH)
    assert r.json()["state"] == "declined"
    second = (await senv.h.api("POST", "/api/v1/schedules/primary/swaps", json=body, headers=BOB_AUTH)).json()
    r = await senv.h.api("POST", f"/api/v1/schedules/swaps/{second['id']}/cancel", headers=CAROL_AUTH)
    assert r.status_code == 403
    r = await senv.h.api("POST", f"/api/v1/schedules/swaps/{second['id']}/cancel", headers=BOB_AUTH)
    assert r.json()["state"] == "cancelled"
    r = await senv.h.api("POST", f"/api/v1/schedules/swaps/{second['id']}/accept", headers=CAROL_AUTH)
    assert r.status_code == 409
    await senv.page(severity="critical")
    await run(senv.h)
    assert sms_to(senv) == [BOB]


BAD_SWAPS: list[tuple[dict[str, Any], int, str]] = [
    ({"mine": {"at": "2026-12-08T12:00:00+01:00"}}, 422, "bob has no shift"),  # alice's week
    ({"theirs": {"user": "alice", "at": "2026-11-28T12:00:00+01:00"}}, 422, "alice has no shift"),
    ({"theirs": {"user": "bob", "at": "2026-12-08T12:00:00+01:00"}}, 422, "two different people"),
    ({"mine": {"at": "2026-11-20T12:00:00+01:00"}}, 422, "no shift"),  # alice's, and over
    ({"layer": "nightly"}, 422, "no layer"),
    ({"mine": {"user": "carol", "at": "2026-12-01T12:00:00+01:00"}}, 403, "schedules"),
    ({"accepted": True}, 403, "schedules"),
    ({"theirs": {"user": "zed", "at": "2026-12-08T12:00:00+01:00"}}, 422, "no responder 'zed'"),
]


@sqlite
async def test_swap_validation(senv: Env) -> None:
    for body, status, needle in BAD_SWAPS:
        data = {"layer": "weekly", "mine": {"at": "2026-11-28T12:00:00+01:00"},
                "theirs": {"user": "alice", "at": "2026-12-08T12:00:00+01:00"}, **body}
        r = await senv.h.api("POST", "/api/v1/schedules/primary/swaps", json=data, headers=BOB_AUTH)
        assert r.status_code == status and needle in r.json()["detail"], (body, r.text)
    r = await senv.h.api("POST", "/api/v1/schedules/nope/swaps", json=data, headers=BOB_AUTH)
    assert r.status_code == 404


@sqlite
async def test_a_planner_swaps_two_other_people_at_once(senv: Env) -> None:
    body = {"layer": "weekly", "mine": {"user": "bob", "at": "2026-11-28T12:00:00+01:00"},
            "theirs": {"user": "carol", "at": "2026-12-01T12:00:00+01:00"}, "accepted": True}
    r = await senv.h.api("POST", "/api/v1/schedules/primary/swaps", json=body, headers=PLANNER)
    assert r.status_code == 201 and r.json()["state"] == "accepted" and r.json()["created_by"] == "planner"
    assert r.json()["notice"] is None  # nobody is asked
    await senv.page(severity="critical")
    await run(senv.h)
    assert sms_to(senv) == [CAROL]


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_stored_changes_reach_the_escalation_and_the_calendar(senv: Env) -> None:
    """The PostgreSQL leg (the other tests run on SQLite): an override and an accepted swap from the database."""
    r = await override(senv, "carol", hours=1)
    assert r.status_code == 201
    body = {"layer": "weekly", "mine": {"at": "2026-12-01T12:00:00+01:00"},
            "theirs": {"user": "alice", "at": "2026-12-08T12:00:00+01:00"}}
    swap = (await senv.h.api("POST", "/api/v1/schedules/primary/swaps", json=body, headers=CAROL_AUTH)).json()
    assert (await senv.h.api("POST", f"/api/v1/schedules/swaps/{swap['id']}/accept")).status_code == 200
    await senv.page(severity="critical")
    await run(senv.h)
    assert sms_to(senv) == [CAROL]
    ics = (await senv.h.api("GET", "/api/v1/schedules/primary.ics")).text
    assert "On call: carol (primary)" in ics and "Schedule primary\\, override" in ics
    svc = senv.h.app.state.svc
    stored = await svc.db.read(repo.changes, senv.h.clock())
    assert [(r["kind"], r["state"]) for r in stored] == [("override", "active"), ("swap", "accepted")]


@sqlite
async def test_merging_stored_changes_costs_one_query_per_batch(senv: Env) -> None:
    """The escalation merges stored changes once per batch of due steps: one indexed query, whatever their number
    (measured: docs/schedules.md)."""
    svc = senv.h.app.state.svc
    now = senv.h.clock()

    def fill(conn: Any) -> None:
        for i in range(200):
            start = now + timedelta(days=1, hours=i)
            repo.insert_change(conn, {"schedule": "primary", "kind": "override", "state": "active", "user": "carol",
                                      "starts_at": start, "ends_at": start + timedelta(hours=1), "comment": "",
                                      "created_by": "t", "created_at": now})

    await svc.db.write(fill)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(svc.db.engine, "before_cursor_execute", count)
    try:
        merged = await svc.db.read(changes.effective, svc.cfg.oncall, now)
    finally:
        event.remove(svc.db.engine, "before_cursor_execute", count)
    assert len(merged.schedule("primary").overrides) == 200 and merged.schedule("secondary").overrides == ()
    assert len(statements) == 1 and "schedule_changes" in statements[0]


def test_cli_override_add_list_rm_and_who(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from webhook.cli import main

    config = tmp_path / "tocsin.yaml"
    config.write_text(yaml.safe_dump({"server": {"var_dir": str(tmp_path / "var")},
                                      "database": {"url": f"sqlite:///{tmp_path / 'tocsin.db'}"}, "oncall": ONCALL}))
    cfg = ["--config", str(config)]
    assert main(["oncall", "who", *cfg, "--schedule", "primary"]) == 0
    assert "no database at" in capsys.readouterr().out
    assert main(["db", "upgrade", *cfg]) == 0
    end = (datetime.now().astimezone() + timedelta(hours=2)).isoformat()
    assert main(["oncall", "override", "add", *cfg, "--schedule", "primary", "--user", "bob", "--to", end,
                 "--comment", "dentist", "--by", "carol"]) == 0
    assert "override #1 on primary: bob from " in capsys.readouterr().out
    assert main(["oncall", "who", *cfg, "--schedule", "primary"]) == 0
    assert "primary: bob" in capsys.readouterr().out
    assert main(["oncall", "override", "list", *cfg]) == 0
    assert "#1 primary: bob " in (listed := capsys.readouterr().out) and "by carol: dentist" in listed
    with pytest.raises(SystemExit, match="no responder 'zed'"):
        main(["oncall", "override", "add", *cfg, "--schedule", "primary", "--user", "zed", "--to", end])
    with pytest.raises(SystemExit, match="give a time zone"):
        main(["oncall", "override", "add", *cfg, "--schedule", "primary", "--user", "bob", "--to", "2030-01-01T00:00"])
    assert main(["oncall", "override", "rm", *cfg, "--schedule", "primary", "1"]) == 0
    with pytest.raises(SystemExit, match="no override 1"):
        main(["oncall", "override", "rm", *cfg, "--schedule", "primary", "1"])
    capsys.readouterr()
    assert main(["oncall", "who", *cfg, "--schedule", "primary"]) == 0
    assert "primary: alice" in capsys.readouterr().out


def test_a_swap_request_is_worded_in_the_asked_persons_language_and_zone() -> None:
    from webhook.config.oncall import Responder

    swap = {"id": 7, "schedule": "primary", "layer": "weekly", "created_by": "alice",
            "mine": {"user": "alice", "at": "2026-12-08T11:00:00+00:00"},
            "theirs": {"user": "bob", "at": "2026-11-28T11:00:00+00:00"}}
    bob = Responder(name="bob", slack_user="U0BOB", locale="de", timezone="Europe/Berlin")
    subject, text = changes.swap_request_text(swap, bob)
    assert subject == "Tocsin: Schichttausch angefragt"
    assert text == ("alice bittet um einen Schichttausch im Plan primary (weekly): alice übernimmt deine Schicht "
                    "um 2026-11-28 12:00, du die von alice um 2026-12-08 12:00 (Europe/Berlin). Annehmen oder "
                    "ablehnen in der Konsole unter Dienstpläne (Tausch #7).")
