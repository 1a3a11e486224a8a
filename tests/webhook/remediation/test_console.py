"""The operator console in Debian's Chromium (Playwright): approve a run, acknowledge, labels shown as text."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Page, async_playwright, expect

from tests.fakekube import FakeKube
from tests.support.harness import API_TOKEN
from tests.support.procs import free_port
from tests.support.remediation_env import Svc, deliver_body, firing, scale_calls, waiting_run

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def served(svc: Svc) -> AsyncIterator[str]:
    """The service's app on a real loopback port (its lifespan is already running in the svc fixture)."""
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


@pytest.fixture
async def page(served: str, tmp_path: Path) -> AsyncIterator[Page]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = await browser.new_context(viewport={"width": 390, "height": 844})  # a phone at 3 a.m.
        p = await context.new_page()
        await p.goto(served + "/console")
        await p.fill("#token", API_TOKEN)
        await p.click("#save")
        yield p
        await p.screenshot(path=str(tmp_path / "console.png"), full_page=True)
        await browser.close()


async def test_approve_a_waiting_run_from_the_console(svc: Svc, kube: FakeKube, page: Page) -> None:
    run = await waiting_run(svc)
    await page.click("#save")  # refresh now instead of waiting for the 15 s poll
    await expect(page.locator("#runs")).to_contain_text("approve-me")
    await page.get_by_role("button", name="Approve").click()
    await expect(page.locator("#status")).to_have_text(f"Approved run {run['id']}")
    await svc.rem.drain()
    done = (await svc.api("GET", f"/api/v1/runs/{run['id']}")).json()
    assert done["status"] == "finished"
    assert scale_calls(kube) == 1
    decided = [a for a in done["audit"] if a["kind"] == "approval_decided"]
    assert decided[0]["actor"] == "alice"


async def test_acknowledge_and_labels_render_as_text(svc: Svc, page: Page) -> None:
    hostile = '<img src=x onerror="document.title=1">'
    await svc.deliver(deliver_body({**firing("ScaleMe"), "annotations": {"summary": hostile}}))
    await page.click("#save")
    await expect(page.locator("#incidents")).to_contain_text(hostile)
    assert await page.locator("#incidents img").count() == 0
    await page.get_by_role("button", name="Acknowledge").click()
    await expect(page.locator("#status")).to_have_text(f"Acknowledged T-{await svc.only_incident_id()}")
    assert (await svc.incident(await svc.only_incident_id()))["state"] == "acknowledged"


async def test_without_a_token_the_page_asks_for_one(served: str) -> None:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        p = await browser.new_page()
        response = await p.goto(served + "/console")
        assert response is not None
        assert "default-src 'none'" in (await response.all_headers())["content-security-policy"]
        await expect(p.locator("#status")).to_have_text("Enter an API token.")
        await browser.close()
