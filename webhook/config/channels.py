"""The `channels:` section: how Tocsin reaches Slack, Twilio, PagerDuty and the mail relay, and where messages
are rendered."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr

from webhook.config.types import E164, Duration, Name, Strict


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


class WebPushChannel(Strict):
    """Web Push (RFC 8030/8291/8292) to the browsers people subscribed in the console (docs/channels.md)."""

    #: The VAPID private key: a PEM file, or a file holding the raw 32-byte key in base64url. Without it,
    #: dev mode generates one at <var_dir>/vapid-private.pem; outside dev mode it is required.
    vapid_private_key_file: Path | None = None
    #: Who runs this Tocsin, for the push services (VAPID `sub`): a mailto: or https: URL.
    subject: str = Field(pattern=r"^(mailto:[^@\s]+@[^@\s]+|https://[^\s]+)$")
    #: How long a push service keeps a message for a device that is offline (TTL header).
    ttl: Duration = timedelta(hours=1)
    #: Urgency header for critical and high pages (others are sent as `normal`).
    urgency: Literal["very-low", "low", "normal", "high"] = "high"
    timeout: float = Field(10.0, gt=0, le=60)
    #: Subscriptions one person may keep (devices); more are refused with 409.
    max_subscriptions: int = Field(10, ge=1, le=100)
    #: HMAC key of the Acknowledge links inside push messages (min. 32 characters). Default: generated at
    #: <var_dir>/push-ack-secret; replicas must share it (same var_dir or this file).
    ack_secret_file: Path | None = None
    #: How long the Acknowledge action of a push message stays valid.
    ack_token_ttl: Duration = timedelta(hours=24)
    #: Accept http:// endpoints on loopback hosts (tests and a local fake push service); dev mode does too.
    allow_insecure_loopback: bool = False
    #: Hosts a subscription's https endpoint may name (the browsers' push services): a name matches itself and
    #: its subdomains. Tocsin POSTs to these URLs, so anything else (an internal address, say) is refused with 422.
    #: Empty: any https host (only where every signed-in person is trusted with that).
    allowed_hosts: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]+$")]] = Field(default_factory=lambda: [
        "fcm.googleapis.com", "push.services.mozilla.com", "web.push.apple.com", "notify.windows.com"])


class ChannelsConfig(Strict):
    """Absent channels are delivered by the log notifier (a line per message, JSON lines in `log_file`)."""

    slack: SlackChannel | None = None
    twilio: TwilioChannel | None = None
    pagerduty: PagerDutyChannel | None = None
    email: SmtpConfig | None = None
    #: Web Push to the devices responders subscribed in the console (contact rule `channel: push`).
    webpush: WebPushChannel | None = None
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
