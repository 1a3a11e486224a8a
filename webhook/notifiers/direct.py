"""One short text to one person, not about an incident (the console's sign-in codes): e-mail, Slack DM or SMS.

It goes through the channel notifiers' own send paths and error classification, with no outbox and no retry:
the person waits for the text and asks again when it did not come.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal

from webhook.config.channels import ChannelsConfig
from webhook.notifiers.base import Delivered, DeliveryResult, Permanent
from webhook.notifiers.email import EmailNotifier
from webhook.notifiers.render import Renderer
from webhook.notifiers.slack.notifier import SlackNotifier, classify_slack_error
from webhook.notifiers.twilio.notifier import TwilioNotifier, classify_twilio_error

log = logging.getLogger(__name__)

DirectChannel = Literal["email", "slack", "sms"]


class DirectMessenger:
    """Sends through the channels configured in `channels:`; `available()` says which those are."""

    def __init__(self, channels: ChannelsConfig) -> None:
        renderer = Renderer(channels.templates_dir)
        self._email = EmailNotifier(channels.email, renderer) if channels.email is not None else None
        self._sender = channels.email.sender if channels.email is not None else ""
        self._domain = channels.email.message_id_domain if channels.email is not None else None
        sl, tw = channels.slack, channels.twilio
        self._slack = (SlackNotifier(sl.token, renderer, base_url=sl.base_url, timeout=sl.timeout)
                       if sl is not None else None)
        self._sms = (TwilioNotifier(tw.account_sid, tw.auth_token, tw.from_number, renderer,
                                    voice_action_url=tw.callback_url("/twilio/voice"), base_url=tw.base_url,
                                    timeout=tw.timeout) if tw is not None else None)

    def available(self) -> frozenset[DirectChannel]:
        out: set[DirectChannel] = set()
        if self._email is not None:
            out.add("email")
        if self._slack is not None:
            out.add("slack")
        if self._sms is not None:
            out.add("sms")
        return frozenset(out)

    async def send(self, channel: DirectChannel, address: str, subject: str, text: str) -> DeliveryResult:
        """`address`: an e-mail address, a Slack user id (a DM) or an E.164 number. Never raises for vendor
        faults; the text is never logged (it may hold a secret)."""
        if channel == "email" and self._email is not None:
            return await self._send_email(self._email, address, subject, text)
        if channel == "slack" and self._slack is not None:
            try:  # a user id as the channel: Slack opens the bot's DM with that person
                resp = await self._slack._client.chat_postMessage(channel=address, text=text)
            except Exception as exc:  # classified like a page
                return classify_slack_error(exc)
            return Delivered(f"{resp['channel']}/{resp['ts']}")
        if channel == "sms" and self._sms is not None:
            try:
                sent = await self._sms._client.messages.create_async(
                    to=address, from_=self._sms._from, body=text)
            except Exception as exc:
                return classify_twilio_error(exc)
            return Delivered(str(sent.sid))
        return Permanent(f"channel {channel} is not configured")

    async def _send_email(self, notifier: EmailNotifier, address: str, subject: str, text: str) -> DeliveryResult:
        mail = EmailMessage()
        mail["From"] = self._sender
        mail["To"] = address
        mail["Subject"] = subject
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain=self._domain)
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(text)
        failed = await notifier._send(mail)
        return failed if failed is not None else Delivered(str(mail["Message-ID"]))
