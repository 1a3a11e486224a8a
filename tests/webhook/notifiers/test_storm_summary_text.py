"""A storm summary says what is affected, the worst first, and links the console (issue 10, point 2).

In a 10,000-incident storm each summary listed 500 incident codes, and an SMS is cut at 160 characters.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.incident_view import make_incident
from webhook.notifiers import MessageKind, Severity
from webhook.notifiers.messages import build_message, summarize
from webhook.notifiers.render import Renderer

PUBLIC = "https://tocsin.example.com"
CONSOLE = f"{PUBLIC}/console"


def storm_of_10000() -> list[tuple[str, dict[str, Any]]]:
    """6000 crash-looping pods (critical), 1000 full disks (critical), 3000 nodes not ready (high)."""
    crash = [("critical", {"alertname": "PodCrashLooping", "service": f"svc-{n % 4}", "namespace": "shop"})
             for n in range(6000)]
    disks = [("critical", {"alertname": "DiskFull", "service": "postgres", "namespace": "db"}) for _ in range(1000)]
    nodes = [("high", {"alertname": "NodeNotReady", "namespace": "kube-system"}) for _ in range(3000)]
    return crash + nodes + disks


def storm_message(channel: str, locale: str = "en") -> Any:
    listed = [make_incident(id=str(n), code=f"T-{n}", severity=Severity.CRITICAL) for n in range(1, 501)]
    return build_message(MessageKind.STORM_SUMMARY.value, channel, "+4915100000001", locale, listed, None, None,
                         None, "alice", summarize(storm_of_10000()), PUBLIC)


def test_the_counts_are_over_every_incident_the_worst_first() -> None:
    summary = summarize(storm_of_10000())
    assert summary.total == 10_000
    assert [(g.name, g.count) for g in summary.severities] == [("critical", 7000), ("high", 3000)]
    assert [(g.name, g.count, g.severity) for g in summary.alerts] == [
        ("PodCrashLooping", 6000, Severity.CRITICAL), ("DiskFull", 1000, Severity.CRITICAL),
        ("NodeNotReady", 3000, Severity.HIGH)]
    assert [(g.name, g.count) for g in summary.namespaces] == [("shop", 6000), ("db", 1000), ("kube-system", 3000)]
    assert [(g.name, g.count) for g in summary.services] == [  # equal counts by name
        ("svc-0", 1500), ("svc-1", 1500), ("svc-2", 1500), ("svc-3", 1500), ("postgres", 1000)]


@pytest.mark.parametrize("locale", ["en", "de"])
def test_the_sms_of_a_10000_incident_storm_fits_and_names_the_top_groups(locale: str) -> None:
    text = Renderer().sms(storm_message("sms", locale))
    assert len(text) <= 160
    assert text.startswith("[STORM] 10000 incidents: 7000 CRIT, 3000 HIGH." if locale == "en"
                           else "[STURM] 10000 Vorfälle: 7000 KRIT, 3000 HOCH.")
    assert "PodCrashLooping 6000" in text
    assert text.endswith(CONSOLE)
    assert "T-1" not in text  # no incident codes


def test_the_sms_is_exactly_this() -> None:
    assert Renderer().sms(storm_message("sms")) == (
        "[STORM] 10000 incidents: 7000 CRIT, 3000 HIGH. PodCrashLooping 6000, DiskFull 1000. svc svc-0 1500. "
        f"ns shop 6000. {CONSOLE}")


def test_slack_email_pagerduty_and_voice_tell_the_counts_and_link_the_console() -> None:
    renderer = Renderer()
    slack = renderer.slack(storm_message("slack"))
    assert slack.title == "Alert storm: 10000 incidents"
    assert "*Alerts:* PodCrashLooping (6000), DiskFull (1000), NodeNotReady (3000)" in slack.body
    assert CONSOLE in slack.body and "and 9980 more" in slack.body and len(slack.body) <= 3000
    mail = renderer.email(storm_message("email"))
    assert mail.subject == "[Tocsin] Alert storm: 10000 incidents"
    assert "By namespace: shop (6000), db (1000), kube-system (3000)" in mail.text
    assert "...and 9500 more (see the console)." in mail.text and CONSOLE in mail.html
    summary = renderer.pagerduty_summary(storm_message("pagerduty"))
    assert summary.startswith("Alert storm: 10000 incidents: PodCrashLooping 6000, DiskFull 1000, NodeNotReady 3000")
    assert len(summary) <= 1024
    voice = renderer.voice(storm_message("voice"))
    assert voice.startswith("This is Tocsin. Alert storm: 10000 incidents, 7000 of them critical.")
    assert "PodCrashLooping: 6000." in voice
