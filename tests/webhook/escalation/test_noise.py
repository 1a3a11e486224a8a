"""Noise control: storm summaries, per-person SMS limits, working hours for medium, a daily digest for low."""

from __future__ import annotations

from pathlib import Path

from tests.support.clock import FakeClock
from tests.support.escalation_env import ALICE, esc_config, run
from tests.support.harness import start_harness
from tests.support.payloads import alert, payload


async def test_a_storm_of_one_team_pages_once_with_a_summary(db_url: str, tmp_path: Path, fake_slack, fake_twilio,
                                                            fake_pagerduty) -> None:
    cfg = esc_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty, noise={"storm_threshold": 3})
    async for h in start_harness(cfg, FakeClock()):
        await h.post_webhook(payload(*(alert(alertname=f"Down{i}", team="shop") for i in range(10))))
        await run(h, minutes=1)
        texts = [m.text for m in fake_slack.top_level()]
        assert len(texts) == 4  # three incidents paged on their own, then one summary for the other seven
        assert sum("STORM" in t and "7 incidents" in t for t in texts) == 1
        assert len(fake_twilio.messages) == 4 and len(fake_pagerduty.alerts) == 4
        assert all(m.to == ALICE for m in fake_twilio.messages)
        timeline = (await h.api("GET", "/api/v1/incidents/10")).json()["timeline"]
        assert next(e["detail"]["storm"] for e in timeline if e["kind"] == "escalation").startswith("storm:shop:")


async def test_sms_per_person_and_hour_are_limited(db_url: str, tmp_path: Path, fake_slack, fake_twilio,
                                                  fake_pagerduty) -> None:
    cfg = esc_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty, noise={"sms_per_hour": 2})
    async for h in start_harness(cfg, FakeClock()):
        # high: a critical incident's first page is never held back (test_storm_rate_limits.py); alice's contact
        # rules text her 2 minutes after her Slack message
        await h.post_webhook(payload(*(alert(alertname=f"A{i}", severity="high") for i in range(4))))
        await run(h, minutes=3)
        assert len(fake_twilio.messages) == 2 and len(fake_slack.top_level()) == 8  # #ops and alice's DM each
        steps = [e for e in (await h.api("GET", "/api/v1/incidents/4")).json()["timeline"]
                 if e["kind"] == "escalation_step"]
        assert steps[0]["detail"]["skipped"] == ["sms:alice (limit 2/h)"]


async def test_medium_waits_for_working_hours(db_url: str, tmp_path: Path, fake_slack, fake_twilio,
                                             fake_pagerduty) -> None:
    cfg = esc_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty)
    clock = FakeClock()  # Saturday 2026-11-28 03:00 UTC
    async for h in start_harness(cfg, clock):
        await h.post_webhook(payload(alert(severity="medium")))
        await run(h)
        clock.advance(hours=52, minutes=59)  # Monday 07:59 UTC = 08:59 in Berlin
        await run(h)
        assert fake_slack.requests == []
        clock.advance(minutes=1)
        await run(h)
        assert len(fake_slack.top_level()) == 1


async def test_low_severity_goes_into_one_daily_digest_mail(db_url: str, tmp_path: Path, fake_slack, fake_twilio,
                                                           fake_pagerduty, smtp) -> None:
    inbox, port = smtp
    cfg = esc_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty, smtp_port=port)
    clock = FakeClock()  # 03:00 UTC; the digest goes out at 09:00 Berlin = 08:00 UTC
    async for h in start_harness(cfg, clock):
        await h.post_webhook(payload(*(alert(alertname=f"Slow{i}", severity="low") for i in range(3))))
        await run(h)
        clock.advance(hours=4, minutes=59)
        await run(h)
        assert inbox.mails == []
        clock.advance(minutes=1)
        await run(h, minutes=2)
    (mail,) = inbox.mails
    assert mail["To"] == "oncall@example.com"
    body = mail.get_body(("plain",)).get_content()
    assert all(f"T-{i}" in body for i in (1, 2, 3))
    assert fake_slack.requests == [] and fake_twilio.messages == [] and fake_pagerduty.alerts == {}
