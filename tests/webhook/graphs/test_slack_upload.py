"""The graph goes into the page's thread through Slack's three-step external upload (files_upload_v2),
every step checked by the fake Slack against the contract."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from tests.fakes.slack import FakeSlack
from tests.support.incident_view import make_incident
from tests.webhook.graphs.pixels import decode
from tests.webhook.graphs.test_render import chart
from webhook.graphs.followup import AttachFailed
from webhook.graphs.maker import Graph
from webhook.graphs.render import render
from webhook.notifiers import Channel, Delivered
from webhook.notifiers.base import Message, MessageKind, Target
from webhook.notifiers.render import Renderer
from webhook.notifiers.slack.notifier import SlackNotifier


def notifier(fake: FakeSlack) -> SlackNotifier:
    return SlackNotifier(SecretStr("xoxb-test-token"), Renderer(), base_url=fake.base_url, timeout=2)


def graph() -> Graph:
    return Graph(render(chart()).png, "CeleryQueueBacklog · queue=orders", "Graph of celery_queue_length > 100",
                 "CeleryQueueBacklog-graph.png")


async def page(fake: FakeSlack, n: SlackNotifier) -> str:
    result = await n.notify(Message(MessageKind.TRIGGER, Target(Channel.SLACK, "#ops"), incident=make_incident()))
    assert isinstance(result, Delivered)
    return result.reference


async def test_the_graph_lands_in_the_page_thread(fake_slack: FakeSlack) -> None:
    n = notifier(fake_slack)
    reference = await page(fake_slack, n)
    g = graph()
    await n.attach_graph(reference, "#ops", g)
    assert fake_slack.violations == []
    methods = [r.path.rsplit("/", 1)[-1] for r in fake_slack.requests]
    assert methods[-3:] == ["files.getUploadURLExternal", methods[-2], "files.completeUploadExternal"]
    assert fake_slack.requests[-2].path.startswith("/upload/F")
    (parent,) = fake_slack.top_level()
    (shared,) = parent.files
    assert shared.data == g.png and shared.filename == g.filename and shared.alt_txt == g.alt
    assert shared.title == g.title and shared.thread_ts == parent.ts
    assert decode(shared.data).shape == (400, 800, 3)


@pytest.mark.parametrize(("error", "retryable"), [("internal_error", True), ("missing_scope", False)])
async def test_a_refused_upload_is_classified(fake_slack: FakeSlack, error: str, retryable: bool) -> None:
    n = notifier(fake_slack)
    reference = await page(fake_slack, n)
    fake_slack.upload_error = error
    with pytest.raises(AttachFailed) as caught:
        await n.attach_graph(reference, "#ops", graph())
    assert (caught.value.reason, caught.value.retryable) == (error, retryable)
    assert fake_slack.top_level()[0].files == [] and fake_slack.violations == []


async def test_a_thread_reply_ts_is_refused_like_slack_does(fake_slack: FakeSlack) -> None:
    n = notifier(fake_slack)
    reference = await page(fake_slack, n)
    channel, ts = reference.split("/")
    reply = await n._client.chat_postMessage(channel=channel, thread_ts=ts, text="a line in the thread")
    with pytest.raises(AttachFailed) as caught:
        await n.attach_graph(f"{channel}/{reply['ts']}", "#ops", graph())
    assert caught.value.reason == "invalid_thread_ts"
