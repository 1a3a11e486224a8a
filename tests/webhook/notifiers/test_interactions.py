"""Parsing Slack button callbacks (POST /slack/interactions), including hostile payloads."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from webhook.notifiers.slack.interactions import (
    MAX_INTERACTION_BYTES,
    Interaction,
    InteractionAction,
    InteractionError,
    parse_interaction,
)
from webhook.notifiers.slack.notifier import ACTION_ACK, ACTION_RESOLVE, ACTION_SNOOZE


def payload(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "type": "block_actions",
        "user": {"id": "U024BE7LH", "username": "alice", "team_id": "T0001"},
        "container": {"type": "message", "channel_id": "C0OPS", "message_ts": "1700000001.000001"},
        "response_url": "https://hooks.slack.com/actions/T0001/123/abc",
        "actions": [{"type": "button", "action_id": ACTION_ACK, "block_id": "tocsin_actions", "value": "41",
                     "action_ts": "1700000100.000200"}],
    }
    base.update(changes)
    return base


def form(data: object) -> bytes:
    return urlencode({"payload": json.dumps(data)}).encode()


def test_ack_button():
    assert parse_interaction(form(payload())) == Interaction(
        action=InteractionAction.ACK, incident_id="41", slack_user_id="U024BE7LH", slack_user_name="alice",
        response_url="https://hooks.slack.com/actions/T0001/123/abc", channel_id="C0OPS",
        message_ts="1700000001.000001")


@pytest.mark.parametrize(("action_id", "action", "snooze"), [
    (ACTION_RESOLVE, InteractionAction.RESOLVE, None), (ACTION_SNOOZE, InteractionAction.SNOOZE, 3600)])
def test_resolve_and_snooze_buttons(action_id, action, snooze):
    data = payload(actions=[{"action_id": action_id, "value": "41"}])
    parsed = parse_interaction(form(data))
    assert (parsed.action, parsed.snooze_seconds) == (action, snooze)


def test_link_buttons_next_to_ours_are_skipped():
    data = payload(actions=[{"action_id": "tocsin_link_runbook"}, {"action_id": ACTION_RESOLVE, "value": "41"}])
    assert parse_interaction(form(data)).action is InteractionAction.RESOLVE


def test_foreign_response_url_is_dropped_not_followed():
    parsed = parse_interaction(form(payload(response_url="http://169.254.169.254/latest/meta-data")))
    assert parsed.response_url is None


@pytest.mark.parametrize("body", [
    b"",
    b"payload=",
    b"payload=%7Bnot-json",
    b"nopayload=1",
    b"payload=1&payload=2",
    b"\xff\xfe",
    form([1, 2, 3]),
    form(payload(type="view_submission")),
    form(payload(actions=[])),
    form(payload(actions="ack")),
    form(payload(actions=[{"action_id": "delete_everything", "value": "41"}])),
    form(payload(actions=[{"action_id": ACTION_ACK}])),
    form(payload(actions=[{"action_id": ACTION_ACK, "value": "41; DROP TABLE incidents"}])),
    form(payload(actions=[{"action_id": ACTION_ACK, "value": 41}])),
    form(payload(user=None)),
    form(payload(user={"id": "<script>"})),
    b"&".join([b"a=1"] * 50),
])
def test_malformed_payloads_are_rejected(body):
    with pytest.raises(InteractionError):
        parse_interaction(body)


def test_oversized_body_is_rejected_before_parsing():
    with pytest.raises(InteractionError, match="too large"):
        parse_interaction(b"payload=" + b"x" * MAX_INTERACTION_BYTES)
