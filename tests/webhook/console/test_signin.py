"""Signing in to the console in the browser: a one-time code through the person's own channel, a wrong code,
signing out."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.webhook.console.env import Console

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_sign_in_with_a_code_from_slack_wrong_code_then_sign_out(console: Console) -> None:
    ctx = await console.context()
    page = await console.open(ctx, "/console")  # 308 to /console/, then the sign-in view
    assert page.url.endswith("/console/#/signin")
    await expect(page.get_by_role("link", name="Sign in with SSO")).to_be_hidden()  # no console.oidc here
    await page.get_by_label("Your name or e-mail").fill("alice")
    seen = console.messages_seen()
    await page.get_by_role("button", name="Send me a code").click()
    await expect(page.get_by_label("Code")).to_be_visible()
    code = await console.code_for(seen)
    wrong = "".join(str((int(d) + 1) % 10) for d in code)
    await page.get_by_label("Code").fill(wrong)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.locator("#status")).to_have_text("Not signed in: wrong code (4 attempts left)")
    await page.get_by_label("Code").fill(code)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.locator("#person")).to_have_text("alice")
    await expect(page.get_by_role("heading", name="Incidents")).to_be_visible()
    assert page.url.endswith("/console/#/")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.locator("#status")).to_have_text("Signed out.")
    await expect(page.get_by_role("button", name="Send me a code")).to_be_visible()
    status = await page.evaluate("fetch('/api/v1/session').then((r) => r.status)")
    assert status == 401
    cookies = {c["name"]: c for c in await ctx.cookies()}
    assert "tocsin_session" not in cookies


async def test_german_for_a_german_responder_and_the_language_and_theme_choices_stick(console: Console) -> None:
    page = await console.page("bob")  # bob's locale is de
    await expect(page.get_by_role("heading", name="Vorfälle")).to_be_visible()
    assert await page.evaluate("document.documentElement.lang") == "de"
    await page.get_by_label("Sprache").select_option("en")
    await expect(page.get_by_role("heading", name="Incidents")).to_be_visible()
    theme = page.get_by_role("button", name="Dark mode")
    await expect(theme).to_have_attribute("aria-pressed", "false")  # light: the context's preference
    await theme.click()
    await expect(theme).to_have_attribute("aria-pressed", "true")
    assert await page.evaluate("document.documentElement.dataset.theme") == "dark"
    await page.reload()
    await page.wait_for_selector("body[data-ready='1']")
    assert await page.evaluate("[document.documentElement.dataset.theme, document.documentElement.lang]") == \
        ["dark", "en"]  # both choices are remembered in this browser
