"""Web Push end to end without the internet: Tocsin pages alice, the fake push service checks VAPID and decrypts,
Chromium's service worker (sw.js, through the DevTools protocol) shows the notification, Acknowledge acks."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Page, Worker, async_playwright

from tests.support.served import served as serve_app
from tests.webhook.push.conftest import PushEnv

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
NOTIFICATIONS = """async () => (await (await navigator.serviceWorker.ready).getNotifications()).map(n => ({
    title: n.title, body: n.body, tag: n.tag, requireInteraction: n.requireInteraction,
    actions: n.actions.map(a => [a.action, a.title]), incident: n.data.incident}))"""
#: Run inside the service worker: what its Acknowledge action does with the notification shown.
ACKNOWLEDGE = """async () => {
    const [n] = await self.registration.getNotifications();
    return await acknowledge(n.data);
}"""


@pytest.fixture
async def served(penv: PushEnv) -> AsyncIterator[str]:
    """The service on a real loopback port (its lifespan already runs in the penv fixture)."""
    async with serve_app(penv.h.app) as url:
        yield url


async def _poll(page: Page, script: str, tries: int = 200) -> Any:
    """Evaluate until the result is truthy (every 50 ms); fail clearly after `tries` attempts."""
    for _ in range(tries):
        if found := await page.evaluate(script):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no result from {script[:60]!r} after {tries} tries")


async def test_a_page_appears_as_a_notification_and_its_acknowledge_acks(penv: PushEnv, served: str) -> None:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = await browser.new_context(viewport={"width": 390, "height": 844})
        await context.grant_permissions(["notifications"], origin=served)
        page = await context.new_page()
        await page.goto(served + "/console/")
        cdp = await context.new_cdp_session(page)
        registrations: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        def updated(event: dict[str, Any]) -> None:
            for r in event["registrations"]:
                if not r["isDeleted"]:
                    registrations.put_nowait(r)

        cdp.on("ServiceWorker.workerRegistrationUpdated", updated)
        await cdp.send("ServiceWorker.enable")
        async with context.expect_event("serviceworker") as worker_info:
            scope = await page.evaluate("""async () => {
                await navigator.serviceWorker.register("/console/sw.js", {scope: "/console/"});
                return (await navigator.serviceWorker.ready).scope;  // active: it can take a push now
            }""")
        worker: Worker = await worker_info.value
        async with asyncio.timeout(10):
            reg = await registrations.get()
            while reg["scopeURL"] != scope:
                reg = await registrations.get()
        assert scope == served + "/console/"

        sub = penv.fake.subscribe()  # the push service's subscription, stored for alice as the page would
        await penv.store(sub, device="Chromium")
        iid = await penv.page()
        await penv.run()
        [pushed] = await penv.fake.wait_for(1)  # VAPID verified, payload decrypted

        await cdp.send("ServiceWorker.deliverPushMessage", {"origin": served, "registrationId": reg["registrationId"],
                                                            "data": json.dumps(pushed.payload)})
        [shown] = await _poll(page, NOTIFICATIONS)
        assert shown == {"title": f"[CRIT] T-{iid} HighErrorRate: error ratio above 5%",
                         "body": pushed.payload["body"], "tag": f"incident-{iid}", "requireInteraction": True,
                         "actions": [["ack", "Acknowledge"], ["open", "Open"]], "incident": str(iid)}

        assert await worker.evaluate(ACKNOWLEDGE) is True
        incident = (await penv.api("GET", f"/api/v1/incidents/{iid}")).json()
        assert (incident["state"], incident["acked_by"]) == ("acknowledged", "alice")
        await browser.close()
