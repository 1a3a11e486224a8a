"""The console's test environment: config (escalation on the fakes, console roles), signed-in browser pages,
alerts delivered, escalation ticks, and what a page logged."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, ViewportSize

from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio
from tests.support.escalation_env import esc_config, run
from tests.support.harness import Harness
from tests.support.payloads import alert, payload
from tests.support.signin import COOKIE, read_code, seen_now, sign_in
from webhook.config import TocsinConfig

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
PHONE: ViewportSize = {"width": 390, "height": 844}  # a phone at 3 a.m.


#: alice and bob take turns daily (the swap flow needs two people on one layer).
ROTA: dict[str, Any] = {"name": "rota", "timezone": "Europe/Berlin", "layers": [
    {"name": "daily", "rotation": "daily", "start": "2026-11-01", "participants": ["alice", "bob"]}]}


def console_config(db_url: str, tmp_path: Path, slack: FakeSlack, twilio: FakeTwilio,
                   pagerduty: FakePagerDuty, **extra: Any) -> TocsinConfig:
    """esc_config's Tocsin (alice and bob on Slack, a primary and a secondary schedule) with the console on:
    alice has every role, the change stream polls fast."""
    base = esc_config(db_url, tmp_path, slack, twilio, pagerduty).model_dump(mode="python")
    base["oncall"]["schedules"] = [*base["oncall"]["schedules"], ROTA]
    base["console"] = {"roles": {"approve": ["alice"], "windows": ["alice"], "schedules": ["alice"]},
                       "stream_poll": "50ms", "sign_in": {"channels": ["slack", "sms"]}}
    base.update(extra)
    return TocsinConfig(**base)


@dataclass
class Console:
    h: Harness
    url: str
    browser: Browser
    slack: FakeSlack
    twilio: FakeTwilio
    pd: FakePagerDuty
    contexts: list[BrowserContext] = field(default_factory=list)
    #: Every console message and page error of every page opened, as "type: text".
    logged: list[str] = field(default_factory=list)

    async def context(self, dark: bool = False) -> BrowserContext:
        ctx = await self.browser.new_context(viewport=PHONE, timezone_id="UTC", locale="en-US",
                                             color_scheme="dark" if dark else "light")
        await ctx.clock.set_system_time(self.h.clock())  # the page's "5 minutes ago" agrees with fake time
        self.contexts.append(ctx)
        return ctx

    async def open(self, ctx: BrowserContext, path: str = "/console/") -> Page:
        page = await ctx.new_page()

        def log(msg: ConsoleMessage) -> None:
            self.logged.append(f"{msg.type}: {msg.text}")

        page.on("console", log)
        page.on("pageerror", lambda exc: self.logged.append(f"pageerror: {exc}"))
        await page.goto(self.url + path)
        await page.wait_for_selector("body[data-ready='1']")
        return page

    async def code_for(self, seen: tuple[int, ...]) -> str:
        """The sign-in code Slack carried after the `seen` messages (see `messages_seen`)."""
        return await read_code(slack=self.slack, seen=seen)

    def messages_seen(self) -> tuple[int, ...]:
        return seen_now(slack=self.slack)

    async def sign_in(self, ctx: BrowserContext, person: str = "alice") -> None:
        """The code flow through the API (the browser flow has its own test); the cookie goes into `ctx`."""
        async with httpx.AsyncClient(base_url=self.url) as client:
            signed = await sign_in(client, person, slack=self.slack)
        await ctx.add_cookies([{"name": COOKIE, "value": signed.cookie, "url": self.url, "httpOnly": True,
                                "sameSite": "Strict"}])

    async def page(self, person: str = "alice", dark: bool = False, path: str = "/console/") -> Page:
        """A signed-in phone page on `path`."""
        ctx = await self.context(dark)
        await self.sign_in(ctx, person)
        return await self.open(ctx, path)

    async def deliver(self, annotations: dict[str, str] | None = None, **labels: str) -> int:
        """An alert through the webhook; the id of its incident."""
        r = await self.h.post_webhook(payload(alert("firing", None, None, annotations, **labels)))
        assert r.status_code == 200, r.text
        items = (await self.h.api("GET", "/api/v1/incidents?state=triggered")).json()["incidents"]
        return max(int(i["id"]) for i in items)

    async def tick(self, minutes: float = 0) -> None:
        """Escalation on fake time: due steps fire and their sends finish."""
        await run(self.h, minutes=minutes)

    async def incident(self, iid: int) -> dict[str, Any]:
        r = await self.h.api("GET", f"/api/v1/incidents/{iid}")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def pages_out(self) -> dict[str, int]:
        """Pages that went out per vendor (Slack messages to channels, not the sign-in DMs)."""
        return {"slack": sum(1 for m in self.slack.top_level() if not m.channel.startswith("U")),
                "pagerduty": len(self.pd.alerts), "sms": len(self.twilio.messages)}

    def csp_violations(self) -> list[str]:
        return [m for m in self.logged if "Content Security Policy" in m or "Content-Security-Policy" in m]

    async def close(self) -> None:
        for ctx in self.contexts:
            await ctx.close()
