"""A resolved incident that flaps back open escalates again from step 1 of the policy snapshotted at its opening."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio
from tests.support.clock import FakeClock
from tests.support.escalation_env import ALICE, Env, esc_config, run
from tests.support.harness import start_harness
from tests.support.payloads import alert, payload
from webhook.config import TocsinConfig


def pages_to(twilio: FakeTwilio) -> list[str]:
    return [m.to for m in twilio.messages if "Reply ACK" in (m.body or "")]


async def test_a_flap_reopen_restarts_the_escalation_with_the_original_snapshot(
        db_url: str, tmp_path: Path, fake_slack: FakeSlack, fake_twilio: FakeTwilio,
        fake_pagerduty: FakePagerDuty) -> None:
    data = esc_config(db_url, tmp_path, fake_slack, fake_twilio, fake_pagerduty).model_dump(by_alias=True)
    data["incidents"]["flap"] = {"changes": 3}  # open, resolve, fire again: flapping
    gen = start_harness(TocsinConfig(**data), FakeClock())
    h = await anext(gen)
    try:
        env = Env(h, fake_slack, fake_twilio, fake_pagerduty)
        first = alert(starts=datetime(2026, 11, 28, 2, 59, tzinfo=UTC))
        iid = await env.page()
        await run(h, minutes=1)
        assert pages_to(fake_twilio) == [ALICE]
        assert (await h.post_webhook(payload({**first, "status": "resolved"}))).status_code == 200
        await run(h, minutes=1)
        assert (await env.incident(iid))["state"] == "resolved"
        again = alert(starts=datetime(2026, 11, 28, 3, 1, tzinfo=UTC))
        assert (await h.post_webhook(payload(again))).status_code == 200
        incident = await env.incident(iid)
        assert incident["state"] == "triggered" and incident["flapping"]
        await run(h)
        assert pages_to(fake_twilio) == [ALICE, ALICE]  # step 1 again, at once
        await run(h, minutes=6)
        assert [c.to for c in fake_twilio.calls] == [ALICE]  # and the chain climbs as before
        timeline = (await env.incident(iid))["timeline"]
        restarted = [e["detail"] for e in timeline if e["kind"] == "escalation_restarted"]
        assert restarted == [{"reason": "flap", "runs": 1}]
        steps = [e["detail"]["step"] for e in timeline if e["kind"] == "escalation_step"]
        assert steps == [1, 1, 2]
    finally:
        await gen.aclose()  # type: ignore[attr-defined]
