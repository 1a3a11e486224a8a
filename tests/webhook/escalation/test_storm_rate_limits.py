"""Per-person SMS/call limits in a storm (issue 10, point 2): the first individual pages must not use up the budget
so that the storm summary reaches nobody; a critical incident's first page is never held back; a limit that holds
a page back says so on the timeline and in Slack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.clock import FakeClock
from tests.support.escalation_env import ALICE, PUBLIC, esc_config, run
from tests.support.harness import Harness, start_harness
from tests.support.payloads import alert, payload
from webhook.config import TocsinConfig


def with_sections(cfg: TocsinConfig, **sections: dict[str, Any]) -> TocsinConfig:
    data = cfg.model_dump(mode="python", by_alias=True)
    for name, values in sections.items():
        data[name] = {**data[name], **values}
    return TocsinConfig(**data)


async def timeline(h: Harness, iid: int, kind: str) -> list[dict[str, Any]]:
    events = (await h.api("GET", f"/api/v1/incidents/{iid}")).json()["timeline"]
    return [e["detail"] for e in events if e["kind"] == kind]


def crashes(n: int, severity: str = "critical") -> dict[str, Any]:
    return payload(*(alert(alertname="PodCrashLooping", service=f"api-{i}", team="shop", severity=severity)
                     for i in range(n)))


async def test_a_critical_storm_summary_and_first_pages_get_through_the_limits(
        db_url: str, tmp_path: Path, fake_slack, fake_twilio, fake_pagerduty) -> None:
    cfg = with_sections(esc_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty,
                                   noise={"storm_threshold": 3, "sms_per_hour": 2, "voice_per_hour": 1}),
                        server={"public_url": PUBLIC})
    async for h in start_harness(cfg, FakeClock()):
        await h.post_webhook(crashes(6))  # three paged on their own, three in the storm
        await run(h, minutes=1)
        texts = [m.body or "" for m in fake_twilio.messages if m.to == ALICE]
        assert len(texts) == 4  # 3 first pages (limit 2/h: a critical incident's first page is never held) + summary
        [summary] = [t for t in texts if t.startswith("[STORM]")]
        assert summary == f"[STORM] 3 incidents: 3 CRIT. PodCrashLooping 3. svc api-3 1, api-4 1. ns shop 3. " \
                          f"{PUBLIC}/console"
        assert await timeline(h, 3, "rate_limited") == []

        await run(h, minutes=6)  # step 2 calls: three first calls (limit 1/h) and the storm summary read out
        calls = [c for c in fake_twilio.calls if c.to == ALICE]
        assert len(calls) == 4
        assert sum("Alert storm: 3 incidents" in (c.twiml or "") and "<Gather" not in (c.twiml or "")
                   for c in calls) == 1

        await run(h, minutes=24)  # 30 min: the chain repeats; alice's texts about incidents 1-3 are no first pages
        texts = [m.body or "" for m in fake_twilio.messages if m.to == ALICE]
        assert len(texts) == 5 and sum(t.startswith("[STORM]") for t in texts) == 2  # the summary still gets through
        for iid in (1, 2, 3):
            [limited] = await timeline(h, iid, "rate_limited")
            assert limited["skipped"] == ["sms:alice (limit 2/h)"] and limited["step"] == 1
        [first] = [m for m in fake_slack.top_level() if m.text.split()[1] == "T-1"]
        assert any("hourly limit" in r.text and "sms:alice" in r.text for r in first.replies)
        assert fake_slack.violations == [] and fake_twilio.violations == []


async def test_a_storm_summary_counts_once_against_the_limit_not_once_per_incident(
        db_url: str, tmp_path: Path, fake_slack, fake_twilio, fake_pagerduty) -> None:
    # high severity: alice is reached by her contact rules (Slack now, SMS after 2 minutes)
    cfg = esc_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty,
                     noise={"storm_threshold": 2, "sms_per_hour": 3})
    async for h in start_harness(cfg, FakeClock()):
        await h.post_webhook(crashes(6, severity="high"))  # two paged on their own, four in the storm
        await run(h, minutes=3)
        texts = [m.body or "" for m in fake_twilio.messages if m.to == ALICE]
        assert len(texts) == 3 and sum(t.startswith("[STORM] 4 incidents") for t in texts) == 1
        for iid in range(1, 7):  # before: every member of the storm took from alice's budget, and was refused
            assert [s["skipped"] for s in await timeline(h, iid, "escalation_step")] == [[]]
            assert await timeline(h, iid, "rate_limited") == []


async def test_without_a_storm_a_limit_holds_back_non_critical_pages_and_says_so(
        db_url: str, tmp_path: Path, fake_slack, fake_twilio, fake_pagerduty) -> None:
    cfg = esc_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty,
                     noise={"storm_threshold": 0, "sms_per_hour": 2})
    async for h in start_harness(cfg, FakeClock()):
        await h.post_webhook(crashes(3, severity="high"))
        await run(h, minutes=3)
        assert len(fake_twilio.messages) == 2
        [limited] = await timeline(h, 3, "rate_limited")
        assert limited["skipped"] == ["sms:alice (limit 2/h)"]
        posts = [m for m in fake_slack.top_level() if m.text.split()[1] == "T-3"]  # #ops and alice's DM
        assert len(posts) == 2
        assert all(any("hourly limit reached: sms:alice (limit 2/h)" in r.text for r in p.replies) for p in posts)
