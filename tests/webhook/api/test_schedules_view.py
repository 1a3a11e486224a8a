"""The schedules view API: now, next and the shifts ahead across a DST change in Europe/Berlin; the answers to
unauthenticated, malformed, oversized and hostile requests on every schedules endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.escalation_env import Env
from tests.webhook.oncall.test_changes import BOB_AUTH, PLANNER, READER_TOKEN, senv, start_at  # noqa: F401

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

#: Thursday before the end of summer time (Sunday 2026-10-25): carol's week hands over on Monday 09:00 CET.
BEFORE_DST_END = datetime(2026, 10, 22, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("start_at", [BEFORE_DST_END])
async def test_now_next_and_shifts_follow_the_berlin_wall_clock_across_dst(senv: Env) -> None:  # noqa: F811
    r = await senv.h.api("GET", "/api/v1/schedules", params={"weeks": 2})
    assert r.status_code == 200, r.text
    [primary, secondary] = r.json()["schedules"]
    assert primary["name"] == "primary" and primary["timezone"] == "Europe/Berlin"
    assert primary["now"] == {"user": "carol", "start": "2026-10-19T07:00:00+00:00",  # 09:00 CEST
                              "end": "2026-10-26T08:00:00+00:00", "source": "weekly"}  # 09:00 CET
    assert primary["next"] == {"user": "alice", "start": "2026-10-26T08:00:00+00:00",
                               "end": "2026-11-02T08:00:00+00:00", "source": "weekly"}
    assert [s["user"] for s in primary["shifts"]] == ["carol", "alice", "bob"]
    assert primary["overrides"] == primary["swaps"] == []
    assert secondary["now"]["user"] == "bob" and secondary["next"] is None  # bob alone: one endless week
    one = (await senv.h.api("GET", "/api/v1/schedules/primary", params={"weeks": 2})).json()
    assert one == primary


async def test_the_view_lists_overrides_and_pending_swaps(senv: Env) -> None:  # noqa: F811
    body = {"user": "carol", "start": "2026-11-28T06:00:00+00:00", "end": "2026-11-28T08:00:00+00:00"}
    made = (await senv.h.api("POST", "/api/v1/schedules/primary/overrides", json=body, headers=PLANNER)).json()
    swap = {"layer": "weekly", "mine": {"at": "2026-11-28T12:00:00+01:00"},
            "theirs": {"user": "alice", "at": "2026-12-08T12:00:00+01:00"}}
    asked = (await senv.h.api("POST", "/api/v1/schedules/primary/swaps", json=swap, headers=BOB_AUTH)).json()
    view = (await senv.h.api("GET", "/api/v1/schedules/primary")).json()
    assert [(o["id"], o["origin"], o["user"]) for o in view["overrides"]] == [(made["id"], "stored", "carol")]
    assert [(s["id"], s["state"]) for s in view["swaps"]] == [(asked["id"], "pending")]
    assert view["now"]["user"] == "bob"  # pending: nothing changed yet
    assert [(s["user"], s["source"]) for s in view["shifts"][:3]] == [
        ("bob", "weekly"), ("carol", "override"), ("bob", "weekly")]


ENDPOINTS = [
    ("GET", "/api/v1/schedules"), ("GET", "/api/v1/schedules/primary"), ("GET", "/api/v1/schedules/swaps"),
    ("POST", "/api/v1/schedules/primary/overrides"), ("DELETE", "/api/v1/schedules/primary/overrides/1"),
    ("POST", "/api/v1/schedules/primary/swaps"), ("POST", "/api/v1/schedules/swaps/1/accept"),
]


async def test_every_endpoint_needs_a_token(senv: Env) -> None:  # noqa: F811
    for method, path in ENDPOINTS:
        r = await senv.h.client.request(method, path, json={"user": "carol"})
        assert r.status_code == 401, (method, path)
        r = await senv.h.client.request(method, path, headers={"Authorization": "Bearer wrong-token-0123456789"})
        assert r.status_code == 401, (method, path)


async def test_a_read_token_sees_but_does_not_change(senv: Env) -> None:  # noqa: F811
    reader = {"Authorization": f"Bearer {READER_TOKEN}"}
    assert (await senv.h.api("GET", "/api/v1/schedules", headers=reader)).status_code == 200
    r = await senv.h.api("POST", "/api/v1/schedules/swaps/1/accept", headers=reader)
    assert r.status_code == 403


GOOD = {"user": "carol", "start": "2026-11-28T04:00:00+00:00", "end": "2026-11-28T06:00:00+00:00"}


HOSTILE: list[tuple[str, Any]] = [
    ("/api/v1/schedules/primary/overrides", {**GOOD, "start": "2026-11-28T04:00:00"}),  # no zone
    ("/api/v1/schedules/primary/overrides", {**GOOD, "user": "carol'; DROP TABLE schedule_changes;--"}),
    ("/api/v1/schedules/primary/overrides", {**GOOD, "user": "x" * 65}),
    ("/api/v1/schedules/primary/overrides", {**GOOD, "comment": "x" * 501}),
    ("/api/v1/schedules/primary/overrides", {**GOOD, "admin": True}),  # unknown keys
    ("/api/v1/schedules/primary/overrides", {**GOOD, "end": "tomorrow"}),
    ("/api/v1/schedules/primary/overrides", ["carol"]),
    ("/api/v1/schedules/primary/swaps", {"layer": "weekly", "mine": {"at": "2026-11-28T12:00:00Z"}}),
    ("/api/v1/schedules/primary/swaps", {"layer": "../../etc", "mine": {"at": "2026-11-28T12:00:00Z"},
                                         "theirs": {"user": "alice", "at": "2026-12-08T12:00:00Z"}}),
    ("/api/v1/schedules/primary/swaps", {"layer": "weekly", "mine": {"at": "2026-11-28T12:00:00Z"},
                                         "theirs": {"user": "alice", "at": "2026-12-08T12:00:00Z", "x": 1}}),
    ("/api/v1/schedules/swaps/abc/accept", {}),
    ("/api/v1/schedules/swaps/1/approve", {}),
]


async def test_malformed_and_hostile_bodies_are_refused_with_422(senv: Env) -> None:  # noqa: F811
    for path, body in HOSTILE:
        r = await senv.h.api("POST", path, json=body, headers=PLANNER)
        assert r.status_code == 422, (path, body, r.text)
    assert (await senv.h.api("GET", "/api/v1/schedules/primary")).json()["overrides"] == []


async def test_oversized_bodies_and_bad_queries_are_refused(senv: Env) -> None:  # noqa: F811
    r = await senv.h.api("POST", "/api/v1/schedules/primary/overrides", headers=PLANNER,
                         content=b'{"user": "' + b"x" * 2_000_000 + b'"}')
    assert r.status_code == 413
    for weeks in ("0", "13", "many"):
        r = await senv.h.api("GET", "/api/v1/schedules", params={"weeks": weeks})
        assert r.status_code == 422
    assert (await senv.h.api("GET", "/api/v1/schedules/nope")).status_code == 404
    assert (await senv.h.api("GET", "/api/v1/schedules/" + "x" * 65)).status_code == 422
    r = await senv.h.api("POST", "/api/v1/schedules/swaps/999/accept")
    assert r.status_code == 404


async def test_signed_in_people_take_their_own_shifts_and_the_schedules_role_more(senv: Env) -> None:  # noqa: F811
    """The console's cookie: the `schedules` role (console.roles) decides, like the token scope does."""
    signin = senv.h.app.state.signin
    cookies = {}
    for name in ("bob", "carol"):
        person = signin.person(name)
        assert person is not None
        opened = await signin.open_session(person, "code", "test")
        cookies[name] = ({"Cookie": f"tocsin_session={opened.session_id}"}, opened.csrf)
    now = senv.h.clock()
    body = {"user": "alice", "start": now.isoformat(), "end": (now + timedelta(hours=1)).isoformat()}

    async def post(who: str, data: dict[str, Any], csrf: bool = True) -> Any:
        cookie, token = cookies[who]
        headers = {**cookie, **({"X-CSRF-Token": token} if csrf else {})}
        return await senv.h.client.post("/api/v1/schedules/primary/overrides", json=data, headers=headers)

    assert (await post("bob", body)).status_code == 403  # no role: not for alice
    assert (await post("bob", {**body, "user": "bob"}, csrf=False)).status_code == 403  # CSRF token missing
    r = await post("bob", {**body, "user": "bob"})
    assert r.status_code == 201 and r.json()["created_by"] == "bob"
    r = await post("carol", body)
    assert r.status_code == 201 and r.json()["user"] == "alice" and r.json()["created_by"] == "carol"
