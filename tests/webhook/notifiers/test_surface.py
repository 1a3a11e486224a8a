"""The public surface of webhook.notifiers is pinned, and every notifier satisfies the protocol."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import SecretStr

import webhook.notifiers
from webhook.config.channels import SmtpConfig
from webhook.notifiers import Notifier
from webhook.notifiers.email import EmailNotifier
from webhook.notifiers.log import LogNotifier
from webhook.notifiers.pagerduty import PagerDutyNotifier
from webhook.notifiers.render import Renderer
from webhook.notifiers.slack.notifier import SlackNotifier
from webhook.notifiers.twilio.notifier import TwilioNotifier


def test_public_names():
    assert sorted(webhook.notifiers.__all__) == [
        "Channel", "Delivered", "DeliveryResult", "IncidentState", "IncidentView", "Locale", "Message",
        "MessageKind", "Notifier", "Permanent", "Retryable", "Severity", "Target", "TimelineEntry",
    ]


def test_every_notifier_is_a_notifier():
    r = Renderer()
    notifiers = [
        SlackNotifier(SecretStr("xoxb-x"), r),
        TwilioNotifier("AC" + "0" * 32, SecretStr("t"), "+15005550006", r, voice_action_url="https://t/v"),
        PagerDutyNotifier(r),
        EmailNotifier(SmtpConfig(host="localhost", sender="t@example.com"), r),
        LogNotifier(r, clock=lambda: datetime(2025, 1, 1, tzinfo=UTC)),
    ]
    assert all(isinstance(n, Notifier) for n in notifiers)
