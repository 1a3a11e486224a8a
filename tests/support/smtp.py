"""A real SMTP server for the tests: aiosmtpd with a handler that keeps the mails (the `smtp` fixture)."""

from __future__ import annotations

import email
from email.message import Message as MimeMessage
from email.policy import default as default_policy


class Inbox:
    """aiosmtpd handler that keeps what it received and can refuse recipients."""

    def __init__(self) -> None:
        self.mails: list[MimeMessage] = []
        self.refuse: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.mails.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 Message accepted"
