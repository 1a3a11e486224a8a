"""Incident API: authentication, filters, timeline, ack/resolve/snooze with who and when; health and metrics."""

from __future__ import annotations

from tests.support.harness import WEBHOOK_TOKEN, Harness
from tests.support.payloads import alert, payload


async def _open(h: Harness, **labels: str) -> int:
    await h.post_webhook(payload(alert(**labels)))
    r = await h.api("GET", "/api/v1/incidents")
    return int(r.json()["incidents"][0]["id"])


async def test_api_needs_an_api_token_and_refuses_the_webhook_token(harness: Harness) -> None:
    assert (await harness.client.get("/api/v1/incidents")).status_code == 401
    r = await harness.client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
    assert r.status_code == 401
    iid = await _open(harness)
    r = await harness.client.post(f"/api/v1/incidents/{iid}/ack", headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
    assert r.status_code == 401


async def test_filters_by_state_severity_and_label(harness: Harness) -> None:
    await harness.post_webhook(payload(alert(namespace="a", severity="critical"), alert(namespace="b", severity="low")))
    got = lambda r: sorted(i["labels"]["namespace"] for i in r.json()["incidents"])
    assert got(await harness.api("GET", "/api/v1/incidents", params={"severity": "low"})) == ["b"]
    assert got(await harness.api("GET", "/api/v1/incidents", params={"label": "namespace=a"})) == ["a"]
    assert got(await harness.api("GET", "/api/v1/incidents", params={"state": "resolved"})) == []
    assert (await harness.api("GET", "/api/v1/incidents", params={"state": "bogus"})).status_code == 422
    assert (await harness.api("GET", "/api/v1/incidents", params={"label": "novalue"})).status_code == 422


async def test_pagination_with_before(harness: Harness) -> None:
    await harness.post_webhook(payload(*(alert(namespace=f"n{i}") for i in range(5))))
    r1 = (await harness.api("GET", "/api/v1/incidents", params={"limit": 3})).json()
    r2 = (await harness.api("GET", "/api/v1/incidents", params={"limit": 3, "before": r1["next_before"]})).json()
    ids = [i["id"] for i in r1["incidents"] + r2["incidents"]]
    assert len(ids) == 5 == len(set(ids)) and r2["next_before"] is None


async def test_detail_has_alerts_and_timeline_and_404_for_unknown(harness: Harness) -> None:
    iid = await _open(harness)
    d = (await harness.api("GET", f"/api/v1/incidents/{iid}")).json()
    assert d["alerts"][0]["labels"]["alertname"] == "HighErrorRate"
    assert d["timeline"][0]["kind"] == "opened"
    assert (await harness.api("GET", "/api/v1/incidents/99999")).status_code == 404
    assert (await harness.api("GET", "/api/v1/incidents/abc")).status_code == 422


async def test_ack_records_who_and_when_and_is_idempotent(harness: Harness) -> None:
    iid = await _open(harness)
    r = await harness.api("POST", f"/api/v1/incidents/{iid}/ack", json={"note": "looking"})
    assert r.json() == {"id": iid, "state": "acknowledged", "changed": True, "by": "alice"}
    again = await harness.api("POST", f"/api/v1/incidents/{iid}/ack")
    assert again.json()["changed"] is False
    d = (await harness.api("GET", f"/api/v1/incidents/{iid}")).json()
    assert d["acked_by"] == "alice" and d["acked_at"] == harness.clock().isoformat()
    ev = d["timeline"][-1]
    assert ev["kind"] == "acknowledged" and ev["actor"] == "alice" and ev["detail"]["note"] == "looking"


async def test_resolve_then_ack_is_a_conflict(harness: Harness) -> None:
    iid = await _open(harness)
    assert (await harness.api("POST", f"/api/v1/incidents/{iid}/resolve")).json()["state"] == "resolved"
    r = await harness.api("POST", f"/api/v1/incidents/{iid}/ack")
    assert r.status_code == 409 and "resolved" in r.json()["detail"]


async def test_snooze_until_and_wake_up(harness: Harness) -> None:
    from webhook.app import tick

    iid = await _open(harness)
    r = await harness.api("POST", f"/api/v1/incidents/{iid}/snooze", json={"duration": "1h"})
    assert r.json()["state"] == "snoozed"
    harness.clock.advance(minutes=59)
    await tick(harness.app.state.svc)
    assert (await harness.api("GET", f"/api/v1/incidents/{iid}")).json()["state"] == "snoozed"
    harness.clock.advance(minutes=2)
    await tick(harness.app.state.svc)
    d = (await harness.api("GET", f"/api/v1/incidents/{iid}")).json()
    assert d["state"] == "triggered" and d["timeline"][-1]["kind"] == "unsnoozed"


async def test_snooze_input_errors(harness: Harness) -> None:
    iid = await _open(harness)
    for body in ({}, {"duration": "1h", "until": "2030-01-01T00:00:00Z"}, {"duration": "soon"},
                 {"duration": "90d"}, {"until": "2030-01-01T00:00:00"}, {"until": "2000-01-01T00:00:00Z"},
                 {"duration": "1h", "extra": 1}):
        r = await harness.api("POST", f"/api/v1/incidents/{iid}/snooze", json=body)
        assert r.status_code in (409, 422), (body, r.text)


async def test_health_ready_metrics_and_openapi(harness: Harness) -> None:
    await harness.post_webhook(payload(alert()))
    await harness.post_webhook(payload(alert()))
    assert (await harness.client.get("/healthz")).json() == {"status": "alive"}
    assert (await harness.client.get("/readyz")).status_code == 200
    text = (await harness.client.get("/metrics")).text
    assert 'tocsin_dedup_decisions_total{reason="new"}' in text
    assert 'tocsin_dedup_decisions_total{reason="repeat"}' in text
    assert 'tocsin_alerts_received_total{status="firing"}' in text
    assert 'tocsin_incidents_open{severity="critical",state="triggered"} 1.0' in text
    assert 'tocsin_http_request_duration_seconds_bucket{le="0.001",method="POST",route="/webhook/alertmanager"}' in text
    assert "tocsin_webhook_payload_bytes_bucket" in text
    spec = (await harness.client.get("/openapi.json")).json()
    expected = {"/webhook/alertmanager", "/api/v1/incidents", "/api/v1/incidents/{incident_id}/snooze"}
    assert expected <= set(spec["paths"])
