"""The console in Debian's Chromium (Playwright): "was this actionable?" on a resolved incident, and the
alert-quality report opened from the console (fetched with the token, shown from a blob: URL)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import uvicorn
from playwright.async_api import Page, async_playwright, expect

from tests.support.harness import API_TOKEN
from tests.support.procs import free_port
from tests.support.remediation_env import Svc, deliver_body, firing

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def served(svc: Svc) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(svc.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # uvicorn offers no "started" event; bounded poll
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@asynccontextmanager
async def console_page(served: str) -> AsyncIterator[Page]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = await (await browser.new_context(viewport={"width": 390, "height": 844})).new_page()
        await page.goto(served + "/console")
        await page.fill("#token", API_TOKEN)
        await page.click("#save")
        yield page
        await browser.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the page, not the storage, is under test here
async def test_feedback_button_and_report_link_in_the_console(svc: Svc, served: str) -> None:
    assert (await svc.deliver(deliver_body(firing("DiskFull")))).status_code == 200
    iid = await svc.only_incident_id()
    assert (await svc.api("POST", f"/api/v1/incidents/{iid}/resolve", json={})).status_code == 200
    svc.clock.advance(seconds=1)  # the report's period ends now (exclusive)
    async with console_page(served) as page:
        await expect(page.locator("#resolved")).to_contain_text(f"T-{iid}")
        await page.locator("#resolved").get_by_role("button", name="Not actionable").click()
        await expect(page.locator("#status")).to_have_text(f"Recorded T-{iid} as not actionable")
        await page.select_option("#report-since", "7d")
        await page.click("#report")
        await expect(page.locator("#report-link")).to_be_visible()
        async with page.context.expect_page() as opened:
            await page.click("#report-link")
        report = await opened.value
        await expect(report.locator("h1")).to_contain_text("Alert-quality report")
        await expect(report.locator("body")).to_contain_text("DiskFull")
        assert await report.locator("svg").count() >= 3
    timeline = (await svc.incident(iid))["timeline"]
    assert [(e["actor"], e["detail"]) for e in timeline if e["kind"] == "feedback"] == \
        [("alice", {"actionable": False, "channel": "console"})]
