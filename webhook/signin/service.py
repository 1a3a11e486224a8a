"""Sign-in of responders: codes asked for and checked, sessions opened, looked up and ended (no HTTP here)."""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from webhook.clock import Clock
from webhook.config import TocsinConfig
from webhook.config.oncall import Responder
from webhook.notifiers.base import Delivered
from webhook.notifiers.direct import DirectMessenger
from webhook.signin import repo, tokens
from webhook.signin.limiter import RateLimiter
from webhook.signin.messages import code_message
from webhook.signin.oidc import OidcProvider
from webhook.signin.repo import CodeResult
from webhook.store.db import Database

log = logging.getLogger(__name__)

#: Longest login (a name or an e-mail address) accepted.
MAX_LOGIN = 320
#: Codes asked for per login, and per client address, within LIMIT_WINDOW.
CODES_PER_LOGIN, CODES_PER_CLIENT = 5, 20
#: Code checks per client address within LIMIT_WINDOW (each code allows console.sign_in.max_attempts anyway).
CHECKS_PER_CLIENT = 30
LIMIT_WINDOW = timedelta(minutes=15)
#: A session's last_seen is written at most this often (not on every request).
TOUCH_EVERY = timedelta(minutes=5)


class Refused(enum.StrEnum):
    """Why a request was not taken: the API answers 429 with Retry-After."""

    LOGIN = "too many codes asked for this name"
    CLIENT = "too many sign-in requests from this address"


@dataclass(frozen=True)
class Person:
    """A signed-in responder as the console sees them."""

    name: str
    full_name: str
    locale: str
    timezone: str
    permissions: frozenset[str]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "full_name": self.full_name, "locale": self.locale, "timezone": self.timezone,
                "permissions": sorted(self.permissions)}


@dataclass(frozen=True)
class Session:
    key: str  # the stored hash of the cookie's value
    person: Person
    csrf: str
    method: str
    expires_at: datetime

    def __repr__(self) -> str:  # the CSRF token is a secret of the browser's
        return f"Session(person={self.person.name!r}, method={self.method!r})"


@dataclass(frozen=True)
class Opened:
    """A new session: the cookie's value (given to the browser only) and its CSRF token."""

    session_id: str
    csrf: str
    person: Person
    expires_at: datetime

    def __repr__(self) -> str:
        return f"Opened(person={self.person.name!r})"


class SignIn:
    """Built once per app; codes go out in the background so that the answer does not tell known from unknown."""

    def __init__(self, cfg: TocsinConfig, db: Database, clock: Clock,
                 messenger: DirectMessenger | None = None) -> None:
        self.cfg, self.db, self.clock = cfg, db, clock
        self.console = cfg.console
        self.messenger = messenger if messenger is not None else DirectMessenger(cfg.channels)
        self._per_login = RateLimiter(CODES_PER_LOGIN, LIMIT_WINDOW)
        self._per_client = RateLimiter(CODES_PER_CLIENT, LIMIT_WINDOW)
        self._checks = RateLimiter(CHECKS_PER_CLIENT, LIMIT_WINDOW)
        self._sending: set[asyncio.Task[None]] = set()
        #: Sign-in with an OpenID Connect provider, when console.oidc is set.
        self.oidc = OidcProvider(cfg.console.oidc) if cfg.console.oidc is not None else None

    # --- people ----------------------------------------------------------------------------------------------
    def responder(self, login: str) -> Responder | None:
        """The responder named `login`, or whose e-mail address it is (case-insensitive)."""
        login = login.strip()
        by_mail = login.casefold()
        for r in self.cfg.oncall.responders:
            if r.name == login:
                return r
        for r in self.cfg.oncall.responders:
            if r.email is not None and r.email.casefold() == by_mail:
                return r
        return None

    def person(self, name: str) -> Person | None:
        r = next((r for r in self.cfg.oncall.responders if r.name == name), None)
        if r is None:
            return None
        return Person(r.name, r.full_name or r.name, r.locale, r.timezone,
                      self.console.permissions(r.name, self.cfg.oncall))

    def by_claim(self, claim: str, value: str) -> Person | None:
        """The responder an OIDC claim names: `email` by e-mail address, any other claim by name."""
        if claim == "email":
            r = next((r for r in self.cfg.oncall.responders
                      if r.email is not None and r.email.casefold() == value.casefold()), None)
            return self.person(r.name) if r is not None else None
        return self.person(value)

    def _login_key(self, login: str) -> tuple[str, Responder | None]:
        r = self.responder(login)
        # "?": an unknown login never shares its row with a responder's (no replacing their code by another case)
        return (r.name, r) if r is not None else ("?" + login.strip().casefold()[:MAX_LOGIN - 1], None)

    # --- codes -----------------------------------------------------------------------------------------------
    def limited(self, login: str, client: str) -> tuple[Refused, int] | None:
        """Count a code request; (why, retry after seconds) when it is over a limit."""
        now = self.clock()
        key, _ = self._login_key(login)
        if not self._per_client.allow(client, now):
            return Refused.CLIENT, self._per_client.retry_after(client, now)
        if not self._per_login.allow(key, now):
            return Refused.LOGIN, self._per_login.retry_after(key, now)
        return None

    def check_limited(self, client: str) -> int | None:
        """Count a code check; seconds to wait when over the limit."""
        now = self.clock()
        return None if self._checks.allow(client, now) else self._checks.retry_after(client, now)

    async def request_code(self, login: str) -> None:
        """Store a new code for `login` and send it through the responder's first sign-in channel. An unknown
        login gets a code too, never sent, so that what follows looks the same."""
        now = self.clock()
        key, r = self._login_key(login)
        code, salt = tokens.new_code(self.console.sign_in.code_length), tokens.new_salt()
        digest = await asyncio.to_thread(tokens.hash_code, code, salt)
        await self.db.write(repo.store_code, key, r.name if r else None, digest, salt, now,
                            now + self.console.sign_in.code_ttl)
        if r is None:
            log.info("sign-in code asked for an unknown name")  # the name itself may be a mistyped password
            return
        task = asyncio.create_task(self._send(r, code), name=f"sign-in code for {r.name}")
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    def channel_of(self, r: Responder) -> tuple[str, str] | None:
        """(channel, address) a code for `r` goes to: the first of sign_in.channels with both."""
        available = self.messenger.available()
        for ch in self.console.sign_in.channels:
            address = r.address(ch)
            if ch in available and address:
                return ch, address
        return None

    async def _send(self, r: Responder, code: str) -> None:
        target = self.channel_of(r)
        if target is None and self.cfg.server.dev_mode:
            # `make run`: no channel is configured, pages go to the local log, and so does the code (dev mode only:
            # anywhere else a code is a secret that never reaches a log)
            log.warning("DEV MODE sign-in code for %s: %s (no channel of console.sign_in.channels is configured; "
                        "outside --dev the code is only ever sent to the person)", r.name, code)
            return
        if target is None:
            log.warning("sign-in code for %s not sent: no channel of console.sign_in.channels is configured for "
                        "them (an address on the responder and the channel under channels:)", r.name)
            return
        channel, address = target
        subject, text = code_message(code, self.console.sign_in.code_ttl, r.locale)
        result = await self.messenger.send(channel, address, subject, text)  # type: ignore[arg-type]
        if isinstance(result, Delivered):
            log.info("sign-in code for %s sent via %s", r.name, channel)
        else:
            log.warning("sign-in code for %s via %s failed (%s): %s", r.name, channel, result.outcome, result.reason)

    async def drain(self) -> None:
        """Wait for the codes being sent (tests, shutdown)."""
        while self._sending:
            tasks = list(self._sending)
            await asyncio.gather(*tasks, return_exceptions=True)
            self._sending.difference_update(tasks)

    async def aclose(self) -> None:
        for task in list(self._sending):
            task.cancel()
        await self.drain()

    async def check_code(self, login: str, code: str) -> CodeResult:
        key, _ = self._login_key(login)
        return await self.db.write(repo.check_code, key, code.strip(), self.clock(),
                                   self.console.sign_in.max_attempts)

    # --- sessions --------------------------------------------------------------------------------------------
    async def open_session(self, person: Person, method: str, user_agent: str) -> Opened:
        now = self.clock()
        session_id, csrf = tokens.new_token(), tokens.new_token()
        expires = now + self.console.session_ttl
        await self.db.write(repo.create_session, tokens.session_key(session_id), person.name, csrf, method, now,
                            expires, user_agent)
        log.info("%s signed in to the console (%s)", person.name, method)
        return Opened(session_id, csrf, person, expires)

    async def session(self, session_id: str) -> Session | None:
        """The live session of a cookie's value, None when unknown, expired or its responder is gone."""
        if not session_id or len(session_id) > 128:
            return None
        now, key = self.clock(), tokens.session_key(session_id)
        row = await self.db.read(repo.get_session, key, now)
        if row is None:
            return None
        person = self.person(row.person)
        if person is None:  # removed from oncall.responders since: signed out
            await self.db.write(repo.end_session, key)
            return None
        if now - row.last_seen >= TOUCH_EVERY:
            await self.db.write(repo.touch, key, now)
        return Session(key, person, row.csrf, row.method, row.expires_at)

    async def end(self, session: Session) -> None:
        await self.db.write(repo.end_session, session.key)
        log.info("%s signed out of the console", session.person.name)
