"""A maintenance window through the real service and the fake vendors: no page while it lasts, the page right
after its end when the incident still fires, none when it resolved meanwhile, at once when it is ended early;
acknowledge-and-silence; the API's answers to bad input."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.support.escalation_env import ALICE, READER_TOKEN, Env, run
from tests.support.payloads import alert, payload

NONE = {"slack": 0, "sms": 0, "voice": 0, "pagerduty": 0}
ONCE = {"slack": 1, "sms": 1, "voice": 0, "pagerduty": 1}


def pages(env: Env) -> dict[str, int]:
    return {"slack": len(env.slack.top_level()), "sms": len(env.twilio.messages), "voice": len(env.twilio.calls),
            "pagerduty": sum(1 for a in env.pd.alerts.values() for e in a.events if e["event_action"] == "trigger")}


def entries(incident: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in incident["timeline"] if e["kind"] == kind]


async def add_window(env: Env, **body: Any) -> dict[str, Any]:
    r = await env.h.api("POST", "/api/v1/windows", json={"matchers": ['namespace="shop"'], "comment": "db upgrade",
                                                        **body})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_a_page_is_held_during_the_window_and_sent_right_after_its_end(env: Env) -> None:
    start = env.h.clock()
    w = await add_window(env, duration="30m")
    assert w["active"] is True and w["created_by"] == "alice" and w["active_until"] == "2026-11-28T03:30:00+00:00"
    iid = await env.page()
    await run(env.h, minutes=29.5)
    assert pages(env) == NONE and env.slack.requests == [] and env.twilio.messages == []
    incident = await env.incident(iid)
    assert incident["state"] == "triggered" and incident["alert_count"] == 1  # stored and shown as usual
    assert [x["id"] for x in incident["windows"]] == [w["id"]]
    held = entries(incident, "window_held")
    assert [e["detail"]["note"] for e in held] == [
        f"held by maintenance window #{w['id']} (db upgrade) until 2026-11-28T03:30:00+00:00"]  # once per hold
    await run(env.h, minutes=0.5)  # 03:30: the window is over and the incident still fires
    assert env.h.clock() - start == timedelta(minutes=30)
    assert pages(env) == ONCE
    incident = await env.incident(iid)
    assert incident["windows"] == [] and [e["detail"]["step"] for e in entries(incident, "escalation_step")] == [1]
    await run(env.h, minutes=5)  # the chain goes on from the held step: step 2 (call) 5 minutes later
    assert [c.to for c in env.twilio.calls] == [ALICE]
    assert env.slack.violations == env.twilio.violations == env.pd.violations == []


async def test_an_incident_resolved_during_the_window_is_never_paged(env: Env) -> None:
    await add_window(env, duration="30m")
    iid = await env.page()
    await run(env.h, minutes=10)
    resolved = {**alert(), "status": "resolved", "endsAt": "2026-11-28T03:09:00Z"}
    assert (await env.h.post_webhook(payload(resolved))).status_code == 200
    await run(env.h, minutes=60, every=300)
    assert pages(env) == NONE and env.slack.requests == [] and env.pd.alerts == {}
    incident = await env.incident(iid)
    assert incident["state"] == "resolved" and entries(incident, "escalation_step") == []


async def test_ending_a_window_now_releases_the_held_page_at_once(env: Env) -> None:
    w = await add_window(env, duration="2h")
    iid = await env.page()
    await run(env.h, minutes=10)
    assert pages(env) == NONE
    r = await env.h.api("POST", f"/api/v1/windows/{w['id']}/end")
    assert r.status_code == 200, r.text
    assert r.json()["released_incidents"] == [iid] and r.json()["ended_by"] == "alice"
    await run(env.h)  # the next tick, not the window's planned end
    assert pages(env) == ONCE
    ended = entries(await env.incident(iid), "window_ended")
    assert [(e["actor"], e["detail"]["window"]) for e in ended] == [("alice", w["id"])]
    again = await env.h.api("POST", f"/api/v1/windows/{w['id']}/end")
    assert again.status_code == 409 and "already over" in again.json()["detail"]


async def test_a_window_that_does_not_match_changes_nothing(env: Env) -> None:
    await add_window(env, matchers=['namespace="billing"'], duration="2h")
    await env.page()
    await run(env.h)
    assert pages(env) == ONCE


async def test_acknowledge_and_silence_for_two_hours(env: Env) -> None:
    iid = await env.page()
    await run(env.h)
    assert pages(env) == ONCE
    r = await env.h.api("POST", f"/api/v1/incidents/{iid}/ack-and-silence", json={"duration": "2h"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "acknowledged" and body["by"] == "alice"
    w = body["window"]
    assert w["incident_id"] == iid and w["ends_at"] == "2026-11-28T05:00:00+00:00"
    assert w["matchers"] == ['alertname="HighErrorRate"', 'namespace="shop"']
    assert [x["id"] for x in (await env.incident(iid))["windows"]] == [w["id"]]
    assert (await env.h.api("POST", f"/api/v1/incidents/{iid}/resolve")).status_code == 200
    await run(env.h, minutes=30, every=300)
    before = pages(env)  # the page, and the ack and resolve told to the channels it reached (state updates)
    # the same problem fires again within the two hours: a new incident, stored, nobody paged
    assert (await env.h.post_webhook(payload(alert(pod="api-2")))).status_code == 200
    await run(env.h, minutes=60, every=300)
    assert pages(env) == before
    items = (await env.h.api("GET", "/api/v1/incidents")).json()["incidents"]
    assert len(items) == 2 and items[0]["state"] == "triggered"
    await run(env.h, minutes=30, every=300)  # 05:00: the window is over, the new incident still fires: it pages
    after = pages(env)
    assert (after["slack"], after["pagerduty"], after["sms"]) == (2, 2, before["sms"] + 1)
    bad = await env.h.api("POST", f"/api/v1/incidents/{iid}/ack-and-silence", json={"duration": "forever"})
    assert bad.status_code == 422 and "duration 'forever'" in bad.json()["detail"]
    assert (await env.h.api("POST", "/api/v1/incidents/999/ack-and-silence")).status_code == 404


async def test_the_api_refuses_bad_windows_clearly_and_needs_the_windows_scope(env: Env) -> None:
    async def refused(body: dict[str, Any]) -> str:
        r = await env.h.api("POST", "/api/v1/windows", json=body)
        assert r.status_code == 422, r.text
        return str(r.json()["detail"])

    assert "matcher 'namespace=shop\"': " in await refused({"matchers": ['namespace=shop"'], "duration": "1h"})
    assert "is not after starts_at" in await refused({"matchers": ['alertname="X"'],
                                                      "starts_at": "2026-11-28T05:00:00Z",
                                                      "ends_at": "2026-11-28T04:00:00Z"})
    assert "at most 30 days" in await refused({"matchers": ['alertname="X"'], "duration": "40d"})
    assert "unknown time zone 'Mars/Olympus'" in await refused({
        "matchers": ['alertname="X"'], "recurrence": {"days": ["sun"], "from": "02:00", "to": "04:00",
                                                      "timezone": "Mars/Olympus"}})
    assert "would cover every alert" in await refused({"matchers": ['team!="x"'], "duration": "1h"})
    r = await env.h.client.post("/api/v1/windows", json={"matchers": ['alertname="X"'], "duration": "1h"},
                                headers={"Authorization": f"Bearer {READER_TOKEN}"})
    assert r.status_code == 403 and "'windows' scope" in r.json()["detail"]
    assert (await env.h.api("GET", "/api/v1/windows/42")).status_code == 404
    weekly = await add_window(env, recurrence={"days": "sun", "from": "02:00", "to": "04:00",
                                               "timezone": "Europe/Berlin"})
    assert weekly["schedule"] == "every sun 02:00-04:00 Europe/Berlin" and weekly["active"] is False
    one_off = await add_window(env, duration="1h")
    listed = (await env.h.api("GET", "/api/v1/windows")).json()["windows"]
    assert [w["id"] for w in listed] == [one_off["id"], weekly["id"]]
    active = (await env.h.api("GET", "/api/v1/windows?active=true")).json()["windows"]
    assert [w["id"] for w in active] == [one_off["id"]]
    shown = await env.h.client.get(f"/api/v1/windows/{weekly['id']}",
                                   headers={"Authorization": f"Bearer {READER_TOKEN}"})
    assert shown.status_code == 200 and shown.json()["recurrence"]["timezone"] == "Europe/Berlin"


async def test_the_cli_end_releases_held_pages_through_the_escalation_it_builds(env: Env) -> None:
    """`tocsin window end` runs ops.end with the hooks webhook.cli builds (no worker to wake in the CLI: the
    service's next tick fires the released step)."""
    from webhook.cli import _window_release
    from webhook.windows import ops

    w = await add_window(env, duration="2h")
    iid = await env.page()
    await run(env.h, minutes=5)
    assert pages(env) == NONE
    svc = env.h.app.state.svc
    ended, released = await svc.db.write(ops.end, w["id"], "cli:bob", env.h.clock(), _window_release(env.h.cfg))
    assert released == [iid] and ended.ended_by == "cli:bob"
    await run(env.h)
    assert pages(env) == ONCE


async def test_a_window_set_on_a_firing_incident_holds_its_next_step_and_says_who_set_it(env: Env) -> None:
    iid = await env.page()
    await run(env.h)
    assert pages(env) == ONCE
    w = await add_window(env, duration="1h")
    created = entries(await env.incident(iid), "window_created")
    assert [(e["actor"], e["detail"]["window"], e["detail"]["matchers"]) for e in created] == [
        ("alice", w["id"], ['namespace="shop"'])]
    await run(env.h, minutes=55, every=300)  # step 2 (the call at +5m) and step 3 (+10m) wait for the window
    assert pages(env) == ONCE and env.twilio.calls == []
    await run(env.h, minutes=5, every=300)
    assert [c.to for c in env.twilio.calls] == [ALICE]
