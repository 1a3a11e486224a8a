"""Slack notifier against the contract-checked fake Slack."""

from __future__ import annotations

import dataclasses
import json

from pydantic import SecretStr

from tests.fakes import FakeSlack
from tests.support.incident_view import make_incident
from webhook.notifiers.base import (
    Channel,
    Delivered,
    IncidentState,
    Message,
    MessageKind,
    Permanent,
    Retryable,
    Target,
)
from webhook.notifiers.render import Renderer
from webhook.notifiers.slack.notifier import ACTION_ACK, ACTION_RESOLVE, ACTION_SNOOZE, SlackNotifier, decode_reference

TOKEN = SecretStr("xoxb-test-token")
TARGET = Target(Channel.SLACK, "C0OPS")


def notifier(fake: FakeSlack, renderer: Renderer, token: SecretStr = TOKEN, timeout: float = 10) -> SlackNotifier:
    return SlackNotifier(token, renderer, base_url=fake.base_url, timeout=timeout)


def action_ids(blocks: object) -> list[str]:
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    actions = [b for b in blocks if b["type"] == "actions"]
    return [e["action_id"] for e in actions[0]["elements"]] if actions else []


async def test_trigger_posts_one_block_kit_message_with_buttons_and_links(fake_slack, renderer, incident):
    result = await notifier(fake_slack, renderer).notify(Message(MessageKind.TRIGGER, TARGET, incident))

    assert isinstance(result, Delivered)
    channel, ts = decode_reference(result.reference)
    [msg] = fake_slack.top_level()
    assert (msg.channel, msg.ts) == (channel, ts) == ("C0OPS", msg.ts)
    assert "T-41" in msg.text
    blocks = msg.blocks
    assert blocks[0]["text"]["text"] == "[CRIT] api-gateway 5xx ratio above 5%"
    assert {f["text"] for f in blocks[1]["fields"]} >= {"*service*\napi-gateway", "*namespace*\nprod"}
    ids = action_ids(blocks)
    assert ids[:3] == [ACTION_ACK, ACTION_RESOLVE, ACTION_SNOOZE]
    assert {"tocsin_link_runbook", "tocsin_link_dashboard", "tocsin_link_console"} <= set(ids)
    buttons = {e["action_id"]: e for e in blocks[-1]["elements"]}
    assert buttons[ACTION_ACK]["value"] == "41"
    assert buttons["tocsin_link_runbook"]["url"] == "https://runbooks.example.com/api-errors"
    assert fake_slack.violations == []


async def test_ack_updates_the_same_message_in_place_and_threads_the_note(fake_slack, renderer, incident):
    slack = notifier(fake_slack, renderer)
    first = await slack.notify(Message(MessageKind.TRIGGER, TARGET, incident))
    assert isinstance(first, Delivered)
    acked = dataclasses.replace(incident, state=IncidentState.ACKNOWLEDGED, acked_by="alice")
    second = await slack.notify(Message(MessageKind.ACK, TARGET, acked, previous_reference=first.reference,
                                        note="Acknowledged by alice via SMS"))

    assert second == first
    [msg] = fake_slack.top_level()
    assert msg.updates == 1
    assert msg.blocks[1]["text"]["text"].startswith("*Acknowledged* by alice")
    assert ACTION_ACK not in action_ids(msg.blocks)
    assert [r.text for r in msg.replies] == ["Acknowledged by alice via SMS"]
    assert len(fake_slack.calls("chat.update")) == 1
    assert fake_slack.violations == []


async def test_resolved_message_keeps_only_link_buttons(fake_slack, renderer, incident):
    slack = notifier(fake_slack, renderer)
    first = await slack.notify(Message(MessageKind.TRIGGER, TARGET, incident))
    assert isinstance(first, Delivered)
    resolved = dataclasses.replace(incident, state=IncidentState.RESOLVED, resolved_by="bob")
    await slack.notify(Message(MessageKind.RESOLVE, TARGET, resolved, previous_reference=first.reference))

    [msg] = fake_slack.top_level()
    assert all(a.startswith("tocsin_link_") for a in action_ids(msg.blocks))
    assert "Resolved" in msg.blocks[1]["text"]["text"]


async def test_update_of_a_deleted_message_posts_a_new_one(fake_slack, renderer, incident):
    result = await notifier(fake_slack, renderer).notify(
        Message(MessageKind.UPDATE, TARGET, incident, previous_reference="C0OPS/1700000099.000099"))

    assert isinstance(result, Delivered)
    assert len(fake_slack.top_level()) == 1
    assert decode_reference(result.reference)[1] != "1700000099.000099"


async def test_channel_name_is_answered_with_the_channel_id(fake_slack, renderer, incident):
    result = await notifier(fake_slack, renderer).notify(
        Message(MessageKind.TRIGGER, Target(Channel.SLACK, "#ops"), incident))
    assert isinstance(result, Delivered)
    assert decode_reference(result.reference)[0].startswith("C")


async def test_storm_summary_lists_incidents_without_buttons(fake_slack, renderer):
    many = tuple(make_incident(id=str(n), code=f"T-{n}") for n in range(30))
    result = await notifier(fake_slack, renderer).notify(Message(MessageKind.STORM_SUMMARY, TARGET, incidents=many))
    assert isinstance(result, Delivered)
    [msg] = fake_slack.top_level()
    assert action_ids(msg.blocks) == []
    assert "and 10 more" in msg.blocks[1]["text"]["text"]
    assert fake_slack.violations == []


async def test_user_text_cannot_inject_mentions_or_links(fake_slack, renderer):
    hostile = make_incident(title="<!channel> hi", description="<https://evil.example|click> & <@U123>",
                            labels={"service": "<!here>"})
    await notifier(fake_slack, renderer).notify(Message(MessageKind.TRIGGER, TARGET, hostile))
    [msg] = fake_slack.top_level()
    body = json.dumps(msg.blocks[1])
    assert "<!here>" not in body
    assert "<https://evil" not in body
    assert "&lt;@U123&gt;" in msg.blocks[1]["text"]["text"]
    assert "<!channel>" not in msg.text


async def test_non_http_links_are_not_turned_into_buttons(fake_slack, renderer):
    sneaky = make_incident(annotations={"runbook_url": "javascript:alert(1)"})
    await notifier(fake_slack, renderer).notify(Message(MessageKind.TRIGGER, TARGET, sneaky))
    assert "tocsin_link_runbook" not in action_ids(fake_slack.top_level()[0].blocks)


async def test_german_buttons(fake_slack, renderer, incident):
    await notifier(fake_slack, renderer).notify(Message(MessageKind.TRIGGER, TARGET, incident, locale="de"))
    [msg] = fake_slack.top_level()
    labels = [e["text"]["text"] for e in msg.blocks[-1]["elements"]]
    assert labels[:3] == ["Bestätigen", "Beheben", "1 h pausieren"]


# --- failure classification -------------------------------------------------------------------------

async def test_rate_limit_is_retryable_with_retry_after(fake_slack, renderer, incident):
    fake_slack.rate_limit_next(retry_after=42)
    result = await notifier(fake_slack, renderer).notify(Message(MessageKind.TRIGGER, TARGET, incident))
    assert result == Retryable("ratelimited", retry_after=42.0)
    assert fake_slack.top_level() == []


async def test_server_error_is_retryable(fake_slack, renderer, incident):
    fake_slack.fail_next(status=503)
    result = await notifier(fake_slack, renderer).notify(Message(MessageKind.TRIGGER, TARGET, incident))
    assert isinstance(result, Retryable)
    assert result.retry_after is None


async def test_timeout_is_retryable(fake_slack, renderer, incident):
    fake_slack.hang_next()
    result = await notifier(fake_slack, renderer, timeout=1).notify(Message(MessageKind.TRIGGER, TARGET, incident))
    assert isinstance(result, Retryable)
    assert "Timeout" in result.reason


async def test_unreachable_slack_is_retryable(renderer, incident):
    slack = SlackNotifier(TOKEN, renderer, base_url="http://127.0.0.1:9/api/", timeout=2)
    assert isinstance(await slack.notify(Message(MessageKind.TRIGGER, TARGET, incident)), Retryable)


async def test_unknown_channel_is_permanent_with_slack_error(fake_slack, renderer, incident):
    fake_slack.missing_channels.add("C0GONE")
    result = await notifier(fake_slack, renderer).notify(
        Message(MessageKind.TRIGGER, Target(Channel.SLACK, "C0GONE"), incident))
    assert result == Permanent("channel_not_found")


async def test_bad_token_is_permanent(fake_slack, renderer, incident):
    result = await notifier(fake_slack, renderer, token=SecretStr("xoxb-wrong")).notify(
        Message(MessageKind.TRIGGER, TARGET, incident))
    assert result == Permanent("invalid_auth")


async def test_internal_error_reported_in_body_is_retryable(fake_slack, renderer, incident):
    fake_slack.error_next("internal_error")
    result = await notifier(fake_slack, renderer).notify(Message(MessageKind.TRIGGER, TARGET, incident))
    assert result == Retryable("internal_error")


async def test_malformed_previous_reference_is_permanent(fake_slack, renderer, incident):
    result = await notifier(fake_slack, renderer).notify(
        Message(MessageKind.UPDATE, TARGET, incident, previous_reference="garbage"))
    assert isinstance(result, Permanent)
