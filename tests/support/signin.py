"""Sign a responder in to the console the way a person does: ask for a code, read it where it arrived (the fake
SMTP inbox, the fake Slack's DMs, the fake Twilio's texts), enter it. For API tests (an httpx client on the app,
whose cookie jar then holds the session) and for browser tests (a base URL of a served Tocsin)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.message import Message as MimeMessage
from typing import Any

import httpx

from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio
from tests.support.smtp import Inbox

COOKIE = "tocsin_session"
CODE = re.compile(r"\b([0-9]{6,10})\b")
#: Longest wait for a code to arrive (it is sent in the background of the request).
WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class SignedIn:
    """The session's cookie value and CSRF token; `headers` for a change (the cookie is in the client's jar, or
    give `cookies` to a client or a browser context)."""

    cookie: str
    csrf: str
    person: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}

    @property
    def cookies(self) -> dict[str, str]:
        return {COOKIE: self.cookie}


def plain_text(mail: MimeMessage) -> str:
    """The text/plain part of a mail the fake SMTP server received."""
    assert isinstance(mail, EmailMessage)
    part = mail.get_body(("plain",))
    assert part is not None, mail
    return str(part.get_content())


def _texts(inbox: Inbox | None, slack: FakeSlack | None, twilio: FakeTwilio | None) -> list[list[str]]:
    """The texts received so far, one list per channel (each in arrival order)."""
    mails = [plain_text(m) for m in inbox.mails] if inbox else []
    dms = [m.text for m in list(slack.messages.values())] if slack else []
    sms = [m.body or "" for m in list(twilio.messages)] if twilio else []
    return [mails, dms, sms]


def seen_now(inbox: Inbox | None = None, slack: FakeSlack | None = None,
             twilio: FakeTwilio | None = None) -> tuple[int, ...]:
    """How many texts each channel holds: give it to read_code as `seen` before asking for a code."""
    return tuple(len(t) for t in _texts(inbox, slack, twilio))


async def read_code(inbox: Inbox | None = None, slack: FakeSlack | None = None, twilio: FakeTwilio | None = None,
                    *, seen: tuple[int, ...] = (0, 0, 0), within: float = WAIT_SECONDS) -> str:
    """The code in the first text that arrived after the `seen` ones; polls with a bound."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        new = [t for texts, n in zip(_texts(inbox, slack, twilio), seen, strict=True) for t in texts[n:]]
        for text in new:
            found = CODE.search(text)
            if found:
                return found.group(1)
        if loop.time() > deadline:
            raise AssertionError(f"no sign-in code arrived within {within}s (new texts: {new!r})")
        await asyncio.sleep(0.01)


async def sign_in(client_or_url: httpx.AsyncClient | str, name: str, *, inbox: Inbox | None = None,
                  slack: FakeSlack | None = None, twilio: FakeTwilio | None = None) -> SignedIn:
    """Run the code flow for `name`; the code is read from whichever fake channel is given."""
    if isinstance(client_or_url, str):
        async with httpx.AsyncClient(base_url=client_or_url) as client:
            return await sign_in(client, name, inbox=inbox, slack=slack, twilio=twilio)
    client = client_or_url
    seen = seen_now(inbox, slack, twilio)
    asked = await client.post("/api/v1/session/code", json={"name": name})
    assert asked.status_code == 202, asked.text
    code = await read_code(inbox, slack, twilio, seen=seen)
    entered = await client.post("/api/v1/session", json={"name": name, "code": code})
    assert entered.status_code == 200, entered.text
    cookie = entered.cookies.get(COOKIE)
    assert cookie, entered.headers
    body = entered.json()
    return SignedIn(cookie, body["csrf"], body["person"])
