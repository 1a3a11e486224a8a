"""Each incident is its own PagerDuty alert, even when successive incidents share a key (review finding 11).

PagerDuty deduplicates a trigger into the open alert of the same dedup_key. With the incident key as dedup_key,
incident B (a re-fire of the same alert group) joined A's alert while A's resolve was still backing off after a
429, and that late resolve then resolved B's page: nobody was paged for B.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.escalation_env import Env, run
from tests.support.payloads import alert, payload

FIRST = datetime(2026, 11, 28, 2, 59, tzinfo=UTC)
SECOND = datetime(2026, 11, 28, 3, 1, tzinfo=UTC)


def pd_alert_of(env: Env, code: str) -> tuple[str, str]:
    """(dedup_key, status) of the PagerDuty alert whose trigger was about incident `code`."""
    [found] = [a for a in env.pd.alerts.values()
               if any(e["event_action"] == "trigger" and e["payload"]["custom_details"]["incident"] == code
                      for e in a.events)]
    return found.dedup_key, found.status


async def test_a_late_resolve_of_the_previous_incident_does_not_resolve_the_next_page(env: Env) -> None:
    h = env.h
    assert (await h.post_webhook(payload(alert(starts=FIRST)))).status_code == 200
    await run(h)
    [a_incident] = (await h.api("GET", "/api/v1/incidents")).json()["incidents"]
    a_code = f"T-{a_incident['id']}"
    assert pd_alert_of(env, a_code)[1] == "triggered"

    env.pd.rate_limit_next(retry_after=600)  # a storm's worth of 429s: A's resolve waits 10 minutes
    assert (await h.post_webhook(payload(alert(status="resolved", starts=FIRST, ends=SECOND)))).status_code == 200
    await run(h)
    assert (await env.incident(a_incident["id"]))["state"] == "resolved"

    h.clock.advance(minutes=2)  # the alert fires again: a new incident of the same key, paged at once
    assert (await h.post_webhook(payload(alert(starts=SECOND)))).status_code == 200
    items = (await h.api("GET", "/api/v1/incidents")).json()["incidents"]
    assert [(i["id"], i["state"]) for i in items[1:]] == [(a_incident["id"], "resolved")]  # same labels, same key
    b_code = f"T-{items[0]['id']}"
    assert items[0]["state"] == "triggered"
    await run(h)
    h.clock.advance(minutes=10)
    await run(h)  # A's resolve goes out now, after B's trigger

    a_key, a_status = pd_alert_of(env, a_code)
    b_key, b_status = pd_alert_of(env, b_code)
    assert a_key != b_key
    assert (a_status, b_status) == ("resolved", "triggered")  # B's page is still open in PagerDuty
    resolves = [e for e in env.pd.alerts[a_key].events if e["event_action"] == "resolve"]
    assert len(resolves) == 1 and env.pd.violations == []
