"""The `channels:` section: how Tocsin reaches Slack, Twilio, PagerDuty and the mail relay, and where messages
are rendered."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from webhook.config.types import E164, Name, Strict


class SmtpConfig(Strict):
    """How Tocsin reaches its mail relay."""

    host: str
    port: int = Field(587, ge=1, le=65535)
    sender: str = Field(description="From: address, e.g. 'Tocsin <tocsin@example.com>'")
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = Field(True, description="Upgrade with STARTTLS (port 587); off for a local relay")
    implicit_tls: bool = Field(False, description="TLS from the first byte (port 465); excludes starttls")
    validate_certs: bool = True
    timeout: float = Field(10.0, gt=0)
    message_id_domain: str = "tocsin.local"


class SlackChannel(Strict):
    #: Bot User OAuth Token (xoxb-...).
    token: SecretStr
    #: App signing secret; POST /slack/interactions verifies X-Slack-Signature with it.
    signing_secret: SecretStr
    #: Channel for `slack: default` targets.
    default_channel: str = "#alerts"
    base_url: str = "https://slack.com/api/"
    timeout: float = Field(10.0, gt=0, le=60)


class TwilioChannel(Strict):
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr
    from_number: E164
    #: Tocsin's public base URL as Twilio calls it; /twilio/sms and /twilio/voice are verified against it.
    public_url: str = Field(pattern=r"^https?://[^\s?#]+$")
    base_url: str = "https://api.twilio.com"
    timeout: float = Field(10.0, gt=0, le=60)

    def callback_url(self, path: str) -> str:
        return self.public_url.rstrip("/") + path


class PagerDutyChannel(Strict):
    #: Events API v2 routing key per PagerDuty service; targets name the service (`pagerduty: platform`).
    services: dict[Name, SecretStr] = Field(min_length=1)
    base_url: str = "https://events.pagerduty.com/v2"
    timeout: float = Field(10.0, gt=0, le=60)


class ChannelsConfig(Strict):
    """Absent channels are delivered by the log notifier (a line per message, JSON lines in `log_file`)."""

    slack: SlackChannel | None = None
    twilio: TwilioChannel | None = None
    pagerduty: PagerDutyChannel | None = None
    email: SmtpConfig | None = None
    #: JSON lines of messages delivered by the log notifier; default <var_dir>/outbox.jsonl.
    log_file: Path | None = None
    #: Directory with user templates (<locale>/<name>) that replace packaged ones.
    templates_dir: Path | None = None
    #: Language of messages to channels (people get their responder locale).
    locale: Literal["en", "de"] = "en"
    #: Who may act on incidents from Slack buttons (acknowledge, resolve, snooze, runbook approve/reject), SMS
    #: replies and keypad presses: `responders` (only people in oncall.responders, known by slack_user or phone)
    #: or `any_slack_user` (also any Slack workspace member whose click Slack signed; SMS and calls stay
    #: responders-only, a phone number is not proof of who sent it). Refusals are on the incident's timeline.
    responder_policy: Literal["responders", "any_slack_user"] = "responders"
