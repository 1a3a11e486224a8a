"""Quality of the page in Chromium: no serious or critical axe-core findings on any view in light and dark mode,
the CSP is enforced and nothing on the page violates it, and screenshots of every view (written to docs/img only
with TOCSIN_SCREENSHOTS=1, so that `make test` leaves the tree clean; `make screenshots` sets it)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.webhook.console.env import Console

pytestmark = pytest.mark.asyncio(loop_scope="module")
AXE = (Path(__file__).resolve().parents[2] / "support" / "axe" / "axe.min.js").read_text(encoding="utf-8")
DOCS_IMG = Path(__file__).resolve().parents[3] / "docs" / "img"
#: view -> (hash, the body[data-page] it renders as)
VIEWS = {"board": "#/", "incident": "#/incidents/1", "windows": "#/windows", "schedules": "#/schedules"}
DARK_SHOT = "incident"  # the README shows one view in dark mode


async def seed(c: Console) -> None:
    """A realistic night: four open incidents (one acknowledged, with a note), one resolved, two windows, an
    override; pages out through the fakes."""
    disk = await c.deliver(annotations={"summary": "/var/lib/postgresql 94% full, full in ~3 h",
                                        "runbook_url": "https://runbooks.example.com/db/disk-full",
                                        "dashboard_url": "https://grafana.example.com/d/pg-disk"},
                           alertname="PostgresDiskFull", severity="critical", namespace="db", instance="pg-7",
                           team="platform")
    await c.deliver(annotations={"summary": "5xx ratio 7.2% on /checkout"}, alertname="HighErrorRate",
                    severity="high", namespace="shop", service="checkout", team="web")
    await c.deliver(annotations={"summary": "api-7f9c restarted 6 times in 10 min"}, alertname="PodCrashLooping",
                    severity="high", namespace="shop", pod="api-7f9c")
    await c.deliver(annotations={"summary": "tls cert for shop.example.com expires in 6 days"},
                    alertname="CertificateExpiry", severity="medium", namespace="edge")
    old = await c.deliver(annotations={"summary": "queue lag above 10k for 15 min"}, alertname="KafkaConsumerLag",
                          severity="high", namespace="stream")
    await c.tick()
    c.h.clock.advance(minutes=7)
    assert (await c.h.api("POST", f"/api/v1/incidents/{disk}/ack", json={"note": "on it"})).status_code == 200
    r = await c.h.api("POST", f"/api/v1/incidents/{disk}/notes", json={"text": "growing 2 GB/h: WAL archiving stuck"})
    assert r.status_code == 201, r.text
    assert (await c.h.api("POST", f"/api/v1/incidents/{old}/resolve", json={})).status_code == 200
    for body in ({"matchers": ['namespace="batch"', 'alertname=~"Job.*"'], "duration": "2h",
                  "comment": "nightly batch rebuild"},
                 {"matchers": ['service="postgres"'], "comment": "weekly database maintenance",
                  "recurrence": {"days": ["sun"], "from": "02:00", "to": "04:00", "timezone": "Europe/Berlin"}}):
        assert (await c.h.api("POST", "/api/v1/windows", json=body)).status_code == 201
    r = await c.h.api("POST", "/api/v1/schedules/secondary/overrides",
                      json={"user": "alice", "start": "2026-11-29T08:00:00Z", "end": "2026-11-29T20:00:00Z",
                            "comment": "covering for bob"})
    assert r.status_code == 201, r.text
    await c.tick(minutes=5)


async def axe_findings(page: Page, scheme: str) -> list[dict[str, Any]]:
    """Serious and critical findings; in dark mode only colour contrast (the rest does not change with it)."""
    options = {"resultTypes": ["violations"]}
    if scheme == "dark":
        options["runOnly"] = ["color-contrast"]
    found: list[dict[str, Any]] = await page.evaluate(
        """async (options) => (await axe.run(document, options)).violations
             .filter((v) => v.impact === "serious" || v.impact === "critical")
             .map((v) => ({id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" "))}))""", options)
    return found


def shot_path(name: str, tmp: Path) -> Path:
    if os.environ.get("TOCSIN_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        return DOCS_IMG / f"console-{name}.png"
    return tmp / f"console-{name}.png"


async def test_every_view_passes_axe_in_light_and_dark_mode_under_an_enforced_csp(console: Console,
                                                                                 tmp_path: Path) -> None:
    await seed(console)
    page = await console.page()
    await page.evaluate(AXE)  # through DevTools, so the page's CSP still applies to everything else
    problems: dict[str, list[dict[str, Any]]] = {}
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        for view, where in VIEWS.items():
            await page.evaluate(f"location.hash = {where!r}")
            await page.wait_for_selector(f"body[data-page='{view}'][data-ready='1']")
            await expect(page.locator("#main")).not_to_contain_text("Loading")
            problems[f"{view}/{scheme}"] = await axe_findings(page, scheme)
            if (scheme == "dark") == (view == DARK_SHOT):
                await page.screenshot(path=str(shot_path(view, tmp_path)))
            await page.evaluate("document.body.dataset.ready = ''")
    signin = await console.open(await console.context(), "/console")
    await signin.evaluate(AXE)
    for scheme in ("light", "dark"):
        await signin.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
        problems[f"signin/{scheme}"] = await axe_findings(signin, scheme)
        if scheme == "light":
            await signin.screenshot(path=str(shot_path("signin", tmp_path)))
    assert {k: v for k, v in problems.items() if v} == {}
    assert console.csp_violations() == []  # every view worked without breaking the policy
    async with signin.expect_console_message(lambda m: "Content Security Policy" in m.text):
        ran = await signin.evaluate("""() => {
            const s = document.createElement("script");
            s.textContent = "window.injected = 1";
            document.head.append(s);
            return window.injected === 1;
        }""")
    assert ran is False  # the policy is enforced: an injected inline script does not run
    for name in (*VIEWS, "signin"):
        assert shot_path(name, tmp_path).stat().st_size > 10_000
