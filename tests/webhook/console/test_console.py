"""The console's flows in Debian's Chromium at a phone viewport: the live board and a tap that acknowledges
everywhere, a window that holds a page until it is ended, the incident page, schedules, feedback, the report,
and "notify this device" refused by a headless browser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import expect

from remediator.records import RunStatus
from tests.fakekube import FakeKube
from tests.support.escalation_env import ALICE
from tests.support.remediation_env import deliver_body, firing, scale_calls
from tests.webhook.console.env import Console
from webhook.graphs.maker import Graph

pytestmark = pytest.mark.asyncio(loop_scope="module")
GRAPH_PNG = Path(__file__).resolve().parents[3] / "docs/img/graph-example.png"
HOSTILE = '<img src=x onerror="document.title=1">'


async def test_an_alert_appears_live_and_one_tap_acknowledges_it_in_slack_and_pagerduty(console: Console) -> None:
    page = await console.page()
    await expect(page.locator("#live")).to_have_text("live")
    await expect(page.locator("#incidents-empty")).to_be_visible()
    iid = await console.deliver(annotations={"summary": HOSTILE}, alertname="DiskFull", severity="critical")
    await console.tick()  # step 1: PagerDuty, Slack #ops, SMS to the primary schedule
    assert console.pages_out() == {"slack": 1, "pagerduty": 1, "sms": 1}
    card = page.locator(f"[data-incident='{iid}']")
    await expect(card).to_contain_text(f"T-{iid} DiskFull: {HOSTILE}")  # arrived over the stream, no reload
    assert await page.locator("#incidents img").count() == 0  # alert text is text, never markup
    await card.get_by_role("button", name="More").click()
    await card.get_by_role("button", name="Escalate now").click()
    await page.get_by_role("button", name="Yes, do it").click()
    await expect(page.locator("#status")).to_have_text(f"Escalated T-{iid}")
    await card.get_by_label("Reassign to (person, schedule:name or team:name)").fill("bob")
    await card.get_by_role("button", name="Reassign", exact=True).click()
    await page.get_by_role("button", name="Yes, do it").click()
    await expect(page.locator("#status")).to_have_text(f"Reassigned T-{iid} to bob")
    await console.tick()
    assert [c.to for c in console.twilio.calls] == [ALICE]  # step 2 (a call to the primary) came early
    assert any(m.channel == "U0BOB" for m in console.slack.top_level())  # bob was paged (Slack, his first rule)
    await card.get_by_role("button", name="Acknowledge").focus()
    await page.keyboard.press("Enter")  # keyboard operable, like every control
    await expect(page.locator("#status")).to_have_text(f"Acknowledged T-{iid}")
    await expect(card).to_contain_text("acknowledged by alice")
    await console.tick()
    for _ in range(10):  # a send that timed out on a busy machine is retried on a later tick (fake time)
        if [a.status for a in console.pd.alerts.values()] == ["acknowledged"]:
            break
        await console.tick(minutes=1)
    incident = await console.incident(iid)
    assert (incident["state"], incident["acked_by"]) == ("acknowledged", "alice")
    [message] = [m for m in console.slack.top_level() if m.channel.startswith("C")]
    assert message.updates == 1 and "Acknowledged" in str(message.blocks)
    assert [a.status for a in console.pd.alerts.values()] == ["acknowledged"]
    assert await page.title() != "1"


async def test_board_filters_snooze_and_more_actions(console: Console) -> None:
    first = await console.deliver(alertname="DiskFull", severity="critical", team="db")
    second = await console.deliver(alertname="HighLatency", severity="high", team="web")
    page = await console.page()
    cards = page.locator("#incidents > li")
    await expect(cards).to_have_count(2)
    await expect(cards.first).to_contain_text("DiskFull")  # critical before high
    await page.get_by_label("Search").fill("latency")
    await expect(cards).to_have_count(1)
    await expect(cards.first).to_contain_text("HighLatency")
    await page.get_by_label("Search").fill("")
    await page.locator("#filters summary").click()  # the other filters fold away on a phone
    await page.get_by_label("Severity").select_option("critical")
    await expect(cards).to_have_count(1)
    await page.get_by_label("Severity").select_option("")
    await expect(cards).to_have_count(2)
    card = page.locator(f"[data-incident='{second}']")
    await card.get_by_role("button", name="More").click()
    await card.get_by_role("button", name="Snooze 2h").click()
    await expect(page.locator("#status")).to_have_text(f"Snoozed T-{second} for 2h")
    await expect(card).to_contain_text("snoozed")
    await expect(cards.last).to_contain_text("HighLatency")  # snoozed sorts after triggered
    card = page.locator(f"[data-incident='{first}']")
    await card.get_by_role("button", name="More").click()
    await card.get_by_label("Note").fill("looking at the volume")
    await card.get_by_role("button", name="Add note").click()
    await expect(page.locator("#status")).to_have_text(f"Note added to T-{first}")
    await card.get_by_role("button", name="Resolve").click()
    await expect(page.get_by_role("button", name="Yes, do it")).to_be_focused()  # destructive actions ask first
    await page.keyboard.press("Escape")  # and Escape says no
    assert (await console.incident(first))["state"] == "triggered"
    await card.get_by_role("button", name="Resolve").click()
    await page.get_by_role("button", name="Yes, do it").click()
    await expect(page.locator("#status")).to_have_text(f"Resolved T-{first}")
    await expect(page.locator("#resolved")).to_contain_text(f"T-{first}")
    timeline = (await console.incident(first))["timeline"]
    assert [(e["kind"], e["actor"]) for e in timeline if e["kind"] in ("note", "resolved")] == \
        [("note", "alice"), ("resolved", "alice")]
    await page.get_by_role("button", name="Notify this device").click()  # headless Chromium refuses push
    await expect(page.locator("#status")).to_contain_text("Notifications not enabled on this device:")


async def test_a_window_made_in_the_console_holds_the_page_until_it_is_ended_there(console: Console) -> None:
    page = await console.page(path="/console/#/windows")
    await page.locator("#w-matchers").fill('alertname="DiskFull"')
    await page.locator("#w-duration").fill("2h")
    await page.locator("#w-comment").fill("disk swap")
    await page.get_by_role("button", name="Create window").click()
    await expect(page.locator("#status")).to_have_text("Window #1 created")
    await expect(page.locator("[data-window='1']")).to_contain_text('alertname="DiskFull"')
    iid = await console.deliver(alertname="DiskFull", severity="critical")
    await console.tick()
    assert console.pages_out() == {"slack": 0, "pagerduty": 0, "sms": 0}  # held by the window
    await page.get_by_role("link", name="Board").click()
    await expect(page.locator(f"[data-incident='{iid}']")).to_contain_text("held by window #1")
    await page.get_by_role("link", name="Windows").click()
    await page.get_by_role("button", name="End now").click()
    await page.get_by_role("button", name="Yes, do it").click()
    await expect(page.locator("#status")).to_have_text("Window #1 ended; 1 incident(s) released")
    await console.tick()
    assert console.pages_out() == {"slack": 1, "pagerduty": 1, "sms": 1}


async def test_the_incident_page_shows_timeline_labels_links_no_graph_and_takes_a_note(console: Console) -> None:
    iid = await console.deliver(annotations={"summary": "disk 95% full", "runbook_url": "https://runbooks.example/disk",
                                             "dashboard_url": "javascript:alert(1)"},
                                alertname="DiskFull", severity="critical", instance="db1")
    await console.tick()
    page = await console.page(path=f"/console/#/incidents/{iid}")
    await expect(page.locator("#inc-title")).to_have_text("DiskFull: disk 95% full")
    await expect(page.locator("#inc-labels")).to_contain_text("instance")
    await expect(page.locator("#inc-labels")).to_contain_text("db1")
    await expect(page.locator("#inc-annotations")).to_contain_text("javascript:alert(1)")  # shown, as text
    runbook = page.get_by_role("link", name="Runbook")
    await expect(runbook).to_have_attribute("href", "https://runbooks.example/disk")
    await expect(runbook).to_have_attribute("rel", "noopener noreferrer")
    await expect(page.get_by_role("link", name="Alert source (generator URL)")).to_be_visible()
    assert await page.locator("a[href^='javascript']").count() == 0
    await expect(page.locator("#inc-graph")).to_contain_text("No graph:")
    timeline = page.locator("#inc-timeline")
    await expect(timeline).to_contain_text("Opened")
    await expect(timeline.locator("[data-kind='outbox']").first).to_contain_text("Page via")
    await expect(timeline.locator("[data-kind='outbox']").first).to_contain_text("sent")
    await page.locator("#inc-note-text").fill("swapped the disk")
    await page.get_by_role("button", name="Add note").click()
    await expect(page.locator("#status")).to_have_text(f"Note added to T-{iid}")
    await expect(timeline).to_contain_text("swapped the disk")
    await page.get_by_role("button", name="Acknowledge and silence for 2 h").click()
    await page.get_by_role("button", name="Yes, do it").click()
    await expect(page.locator("#status")).to_have_text(f"Acknowledged T-{iid} and silenced it for 2 h")
    await expect(page.locator("#inc-held")).to_contain_text("Pages held by window")
    assert (await console.incident(iid))["state"] == "acknowledged"


class OneGraph:
    """Stands in for the graph maker (which needs Prometheus; tests/webhook/graphs drive the real one): a PNG."""

    def __init__(self, png: bytes) -> None:
        self.png = png

    async def for_incident(self, db: object, incident_id: int) -> Graph:
        return Graph(png=self.png, title="DiskFull", alt=f"Graph of T-{incident_id}", filename=f"T-{incident_id}.png")


async def test_the_incident_page_shows_the_graph_when_there_is_one(console: Console) -> None:
    """The page fetches the PNG with the session (no token in a URL) and shows it from a blob: URL (the CSP allows
    img-src blob:), with the alt text in words."""
    iid = await console.deliver(alertname="DiskFull", severity="critical", instance="db1")
    console.h.app.state.graphs = OneGraph(GRAPH_PNG.read_bytes())
    page = await console.page(path=f"/console/#/incidents/{iid}")
    img = page.locator("#inc-graph img")
    await expect(img).to_be_visible()
    assert (await img.get_attribute("src") or "").startswith("blob:")
    await expect(img).to_have_attribute("alt", re.compile(f"T-{iid}"))
    assert await img.evaluate("i => i.complete && i.naturalWidth") > 100  # decoded: a real image, not a broken one


async def test_schedules_show_now_and_next_and_take_an_override(console: Console) -> None:
    page = await console.page(path="/console/#/schedules")
    await expect(page.locator("[data-schedule='primary'] .now")).to_contain_text("alice")
    secondary = page.locator("[data-schedule='secondary']")
    await expect(secondary.locator(".now")).to_contain_text("bob")
    await page.get_by_label("Schedule").first.select_option("secondary")
    await expect(page.locator("#o-user")).to_have_value("alice")  # taking a shift oneself needs no role
    await page.locator("#o-start").fill("2026-11-28T04:00")
    await page.locator("#o-end").fill("2026-11-28T06:00")
    await page.get_by_role("button", name="Create override").click()
    await expect(page.locator("#status")).to_have_text("Override created")
    await expect(secondary).to_contain_text("Override: alice")
    r = await console.h.api("GET", "/api/v1/oncall?schedule=secondary&at=2026-11-28T05:00:00Z")
    assert [p["name"] for p in r.json()["schedules"][0]["oncall"]] == ["alice"]


async def test_a_swap_proposed_in_the_console_takes_effect_when_the_other_person_accepts(console: Console) -> None:
    shifts = (await console.h.api("GET", "/api/v1/schedules/rota")).json()["shifts"]
    mine = next(s for s in shifts[1:] if s["user"] == "alice")["start"][:13] + ":30"  # inside the shift (UTC)
    theirs = next(s for s in shifts[1:] if s["user"] == "bob")["start"][:13] + ":30"
    alice = await console.page(path="/console/#/schedules")
    await alice.locator("#s-schedule").select_option("rota")
    await alice.locator("#s-layer").fill("daily")
    await alice.locator("#s-mine").fill(mine[:16])
    await alice.locator("#s-user").fill("bob")
    await alice.locator("#s-theirs").fill(theirs[:16])
    await alice.get_by_role("button", name="Propose swap").click()
    await expect(alice.locator("#status")).to_have_text("Swap proposed; waiting for the other person")
    bob = await console.page("bob", path="/console/#/schedules")  # bob reads German
    asks = bob.locator("#swaps")
    await expect(asks).to_contain_text("alice möchte die eigene Schicht")
    await asks.get_by_role("button", name="Annehmen").click()
    await expect(bob.locator("#status")).to_have_text("Tausch 1 angenommen")
    await expect(bob.locator("#swaps-box")).to_be_hidden()
    r = await console.h.api("GET", f"/api/v1/oncall?schedule=rota&at={mine}:00Z")
    assert [p["name"] for p in r.json()["schedules"][0]["oncall"]] == ["bob"]
    await bob.get_by_role("link", name="Wartungsfenster").click()  # bob lacks the windows role
    await expect(bob.locator("#windows-role")).to_be_visible()
    await expect(bob.locator("#window-form")).to_be_hidden()


async def test_feedback_on_a_resolved_incident_and_the_report_link(console: Console) -> None:
    iid = await console.deliver(alertname="DiskFull", severity="critical")
    assert (await console.h.api("POST", f"/api/v1/incidents/{iid}/resolve", json={})).status_code == 200
    console.h.clock.advance(seconds=1)  # the report's period ends now (exclusive)
    page = await console.page()
    resolved = page.locator("#resolved")
    await expect(resolved).to_contain_text(f"T-{iid}")
    await resolved.get_by_role("button", name="Not actionable").click()
    await expect(page.locator("#status")).to_have_text(f"Recorded T-{iid} as not actionable")
    await page.get_by_label("Period").select_option("7d")
    async with page.context.expect_page() as opened:
        await page.get_by_role("link", name="Open the report").click()
    report = await opened.value
    await expect(report.locator("h1")).to_contain_text("Alert-quality report")
    await expect(report.locator("body")).to_contain_text("DiskFull")
    assert "since=7d" in report.url
    timeline = (await console.incident(iid))["timeline"]
    assert [(e["actor"], e["detail"]) for e in timeline if e["kind"] == "feedback"] == \
        [("alice", {"actionable": False, "channel": "console"})]


async def test_approve_a_waiting_run_from_the_board(rem_console: Console, kube: FakeKube) -> None:
    c = rem_console
    assert (await c.h.post_webhook(deliver_body(firing("ApproveMe")))).status_code == 200
    rem = c.h.app.state.remediation
    [run] = await rem.run_pending()
    assert run.status is RunStatus.AWAITING_APPROVAL
    page = await c.page()
    runs = page.locator("#runs")
    await expect(runs).to_contain_text("approve-me")
    await runs.get_by_role("button", name="Approve").click()
    await expect(page.locator("#status")).to_have_text(f"Approved run {run.id}")
    await rem.drain()
    done = (await c.h.api("GET", f"/api/v1/runs/{run.id}")).json()
    assert done["status"] == "finished" and scale_calls(kube) == 1
    assert [a["actor"] for a in done["audit"] if a["kind"] == "approval_decided"] == ["alice"]
    await expect(page.locator("#runs-box")).to_be_hidden()
