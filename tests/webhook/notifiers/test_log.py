"""The local outbox notifier: readable log line, JSON lines file, no secrets."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from pydantic import SecretStr

from webhook.notifiers.base import Channel, Delivered, Message, MessageKind, Notifier, Target
from webhook.notifiers.log import LogNotifier

NOW = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)


async def test_writes_a_log_line_and_a_json_line(tmp_path, renderer, incident, caplog):
    path = tmp_path / "var" / "outbox.jsonl"
    notifier = LogNotifier(renderer, clock=lambda: NOW, path=path)
    caplog.set_level(logging.INFO, logger="tocsin.outbox")
    first = await notifier.notify(Message(MessageKind.TRIGGER, Target(Channel.SMS, "+4915112345678"), incident))
    second = await notifier.notify(Message(MessageKind.ACK, Target(Channel.SMS, "+4915112345678"), incident))

    assert first == Delivered("log:1")
    assert second == Delivered("log:2")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["kind"] for line in lines] == ["trigger", "ack"]
    assert lines[0]["at"] == "2025-03-04T10:00:00+00:00"
    assert lines[0]["incidents"] == ["T-41"]
    assert lines[0]["text"].startswith("[CRIT] T-41 api-gateway")
    assert "notify trigger T-41 via sms to +4915112345678" in caplog.text


async def test_routing_keys_are_never_written(tmp_path, renderer, incident, caplog):
    path = tmp_path / "outbox.jsonl"
    caplog.set_level(logging.DEBUG)
    secret = "R0UT1NGKEY-do-not-leak"
    target = Target(Channel.PAGERDUTY, "platform", routing_key=SecretStr(secret))
    await LogNotifier(renderer, clock=lambda: NOW, path=path).notify(Message(MessageKind.TRIGGER, target, incident))
    assert secret not in path.read_text()
    assert secret not in caplog.text


async def test_without_a_file_it_only_logs(renderer, incident, caplog):
    caplog.set_level(logging.INFO, logger="tocsin.outbox")
    notifier: Notifier = LogNotifier(renderer, clock=lambda: NOW)
    many = Message(MessageKind.STORM_SUMMARY, Target(Channel.SLACK, "C1"), incidents=(incident, incident))
    assert isinstance(await notifier.notify(many), Delivered)
    assert "storm_summary T-41,T-41" in caplog.text
