"""PagerDuty Events API v2 against the contract-checked fake, including a 10,000-alert group."""

from __future__ import annotations

import dataclasses
import json

import httpx
from pydantic import SecretStr

from tests.fakes import FakePagerDuty
from tests.support.incident_view import make_incident
from webhook.notifiers.base import (
    Channel,
    Delivered,
    IncidentState,
    Message,
    MessageKind,
    Permanent,
    Retryable,
    Severity,
    Target,
)
from webhook.notifiers.pagerduty import MAX_EVENT_BYTES, PagerDutyNotifier, custom_details, dedup_key
from webhook.notifiers.render import Renderer

KEY = SecretStr("e93facc04764012d7bfb002500d5d1a6")
TARGET = Target(Channel.PAGERDUTY, "platform", routing_key=KEY)


def notifier(fake: FakePagerDuty, renderer: Renderer, timeout: float = 10) -> PagerDutyNotifier:
    return PagerDutyNotifier(renderer, base_url=fake.base_url, timeout=timeout)


async def test_trigger_ack_resolve_share_the_incident_episode_key(fake_pagerduty, renderer, incident):
    pd = notifier(fake_pagerduty, renderer)
    key = dedup_key(incident.id, incident.incident_key)
    first = await pd.notify(Message(MessageKind.TRIGGER, TARGET, incident))
    acked = dataclasses.replace(incident, state=IncidentState.ACKNOWLEDGED)
    second = await pd.notify(Message(MessageKind.ACK, TARGET, acked))
    assert first == second == Delivered(key)
    assert fake_pagerduty.alerts[key].status == "acknowledged"
    resolved = dataclasses.replace(incident, state=IncidentState.RESOLVED)
    await pd.notify(Message(MessageKind.UPDATE, TARGET, resolved))
    alert = fake_pagerduty.alerts[key]
    assert alert.status == "resolved"
    assert [e["event_action"] for e in alert.events] == ["trigger", "acknowledge", "resolve"]
    trigger = alert.events[0]
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["summary"] == "[T-41] api-gateway 5xx ratio above 5% (3 alerts)"
    assert trigger["payload"]["component"] == "api-gateway"
    assert {link["text"] for link in trigger["links"]} == {"Runbook", "Dashboard", "Tocsin"}
    assert fake_pagerduty.violations == []


async def test_snoozed_incident_is_acknowledged_in_pagerduty(fake_pagerduty, renderer, incident):
    snoozed = dataclasses.replace(incident, state=IncidentState.SNOOZED)
    await notifier(fake_pagerduty, renderer).notify(Message(MessageKind.UPDATE, TARGET, snoozed))
    key = dedup_key(incident.id, incident.incident_key)
    assert fake_pagerduty.alerts[key].events[0]["event_action"] == "acknowledge"


async def test_ten_thousand_alert_group_fits_the_size_limit(fake_pagerduty, renderer):
    alerts = tuple({"alertname": "PodCrashLooping", "pod": f"worker-{n:05d}", "namespace": "batch",
                    "container": "main", "reason": "OOMKilled " + "x" * 40} for n in range(10_000))
    huge = make_incident(alert_count=10_000, alerts=alerts, title="t" * 5000, description="d" * 100_000)
    result = await notifier(fake_pagerduty, renderer).notify(Message(MessageKind.TRIGGER, TARGET, huge))

    assert isinstance(result, Delivered)
    assert fake_pagerduty.violations == []
    [request] = fake_pagerduty.requests
    assert len(request.body) < 512 * 1024
    details = request.json["payload"]["custom_details"]
    assert 0 < len(details["alerts"]) < 10_000
    assert details["alerts_omitted"] == 10_000 - len(details["alerts"])
    assert details["alerts"][0]["pod"] == "worker-00000"  # the first alerts are kept, in order
    assert len(request.json["payload"]["summary"]) <= 1024


def test_truncation_is_deterministic():
    alerts = tuple({"pod": f"p{n}", "blob": "y" * 300} for n in range(3000))
    view = make_incident(alerts=alerts)
    assert custom_details(view, 100_000) == custom_details(view, 100_000)
    assert len(json.dumps(custom_details(view, 100_000), separators=(",", ":")).encode()) <= 100_000


def test_details_fall_back_to_a_stub_when_even_labels_do_not_fit():
    view = make_incident(labels={f"l{n}": "v" * 1000 for n in range(100)})
    assert custom_details(view, 5_000)["truncated"]


def test_long_incident_keys_become_a_stable_digest():
    assert dedup_key("7", "short") == "tocsin-7:short"
    long = dedup_key("7", "k" * 300)
    assert long == dedup_key("7", "k" * 300) != dedup_key("8", "k" * 300)
    assert long.startswith("tocsin-7:") and len(long) <= 255


async def test_storm_summary_triggers_one_alert(fake_pagerduty, renderer):
    many = tuple(make_incident(id=str(n), code=f"T-{n}", incident_key=f"k{n}", severity=Severity.HIGH)
                 for n in range(50))
    result = await notifier(fake_pagerduty, renderer).notify(Message(MessageKind.STORM_SUMMARY, TARGET,
                                                                     incidents=many))
    assert isinstance(result, Delivered)
    [alert] = fake_pagerduty.alerts.values()
    assert alert.events[0]["payload"]["severity"] == "error"
    assert alert.events[0]["payload"]["custom_details"]["count"] == 50
    assert fake_pagerduty.violations == []


async def test_digest_and_missing_routing_key_are_permanent(fake_pagerduty, renderer, incident):
    pd = notifier(fake_pagerduty, renderer)
    assert isinstance(await pd.notify(Message(MessageKind.DIGEST, TARGET, incidents=(incident,))), Permanent)
    no_key = Target(Channel.PAGERDUTY, "platform")
    assert isinstance(await pd.notify(Message(MessageKind.TRIGGER, no_key, incident)), Permanent)
    assert fake_pagerduty.requests == []


async def test_routing_key_never_reaches_the_log(fake_pagerduty, renderer, incident, caplog):
    fake_pagerduty.hang_next()
    await notifier(fake_pagerduty, renderer, timeout=0.3).notify(Message(MessageKind.TRIGGER, TARGET, incident))
    assert KEY.get_secret_value() not in caplog.text
    assert KEY.get_secret_value() not in repr(TARGET)


async def test_rate_limit_is_retryable_with_retry_after(fake_pagerduty, renderer, incident):
    fake_pagerduty.rate_limit_next(retry_after=12)
    result = await notifier(fake_pagerduty, renderer).notify(Message(MessageKind.TRIGGER, TARGET, incident))
    assert result == Retryable("429 Too Many Requests", retry_after=12.0)


async def test_server_error_is_retryable(fake_pagerduty, renderer, incident):
    fake_pagerduty.fail_next(status=502)
    result = await notifier(fake_pagerduty, renderer).notify(Message(MessageKind.TRIGGER, TARGET, incident))
    assert result == Retryable("HTTP 502")


async def test_timeout_is_retryable(fake_pagerduty, renderer, incident):
    fake_pagerduty.hang_next()
    result = await notifier(fake_pagerduty, renderer, timeout=0.3).notify(
        Message(MessageKind.TRIGGER, TARGET, incident))
    assert isinstance(result, Retryable)


async def test_bad_request_is_permanent_with_pagerduty_text(fake_pagerduty, renderer, incident):
    fake_pagerduty.error_next("Invalid routing key")
    result = await notifier(fake_pagerduty, renderer).notify(Message(MessageKind.TRIGGER, TARGET, incident))
    assert result == Permanent("HTTP 400: Invalid routing key; Invalid routing key")


async def test_fake_rejects_events_over_the_limit(fake_pagerduty):
    async with httpx.AsyncClient() as http:
        resp = await http.post(f"{fake_pagerduty.base_url}/enqueue", json={
            "routing_key": "k", "event_action": "trigger",
            "payload": {"summary": "s", "severity": "info", "source": "s",
                        "custom_details": {"x": "y" * MAX_EVENT_BYTES * 2}},
        })
    assert resp.status_code == 400
    assert fake_pagerduty.violations


async def test_fake_flags_contract_violations(fake_pagerduty):
    async with httpx.AsyncClient() as http:
        resp = await http.post(f"{fake_pagerduty.base_url}/enqueue", json={"routing_key": "k", "event_action": "nag"})
    assert resp.status_code == 400
    assert any("nag" in v for v in fake_pagerduty.violations)
