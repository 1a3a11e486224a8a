"""The notifier of each channel, built once from the config: one explicit dict, the log notifier where unset."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

import aiohttp
from pydantic import SecretStr

from webhook.config import TocsinConfig
from webhook.notifiers import Channel, Notifier
from webhook.notifiers.email import EmailNotifier
from webhook.notifiers.log import LogNotifier
from webhook.notifiers.pagerduty import PagerDutyNotifier
from webhook.notifiers.render import Renderer
from webhook.notifiers.slack.notifier import SlackNotifier
from webhook.notifiers.twilio.notifier import TwilioNotifier
from webhook.notifiers.webpush import build_webpush
from webhook.store.db import Database


class Sessions:
    """Long-lived aiohttp connection pools, one per HTTP notifier (kept-alive connections), closed together."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._open: list[aiohttp.ClientSession] = []

    def __call__(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit)
        session = aiohttp.ClientSession(connector=connector)
        self._open.append(session)
        return session

    async def close(self) -> None:
        for session in self._open:
            await session.close()
        self._open.clear()


def build_notifiers(cfg: TocsinConfig, clock: Callable[[], datetime],
                    session: Callable[[], aiohttp.ClientSession],
                    db: Database | None = None) -> dict[Channel, Notifier]:
    """`session()` gives each HTTP notifier its own long-lived connection pool; the caller closes them.
    Web Push needs `db` (it reads the person's subscriptions); without it push goes to the log notifier."""
    ch = cfg.channels
    renderer = Renderer(ch.templates_dir)
    log = LogNotifier(renderer, clock, ch.log_file or cfg.server.var_dir / "outbox.jsonl")
    out: dict[Channel, Notifier] = {c: log for c in Channel}
    if ch.slack is not None:
        out[Channel.SLACK] = SlackNotifier(ch.slack.token, renderer, base_url=ch.slack.base_url,
                                           timeout=ch.slack.timeout, session=session())
    if ch.twilio is not None:
        tw = ch.twilio
        out[Channel.SMS] = out[Channel.VOICE] = TwilioNotifier(
            tw.account_sid, tw.auth_token, tw.from_number, renderer, voice_action_url=tw.callback_url("/twilio/voice"),
            base_url=tw.base_url, timeout=tw.timeout, session=session())
    if ch.pagerduty is not None:
        out[Channel.PAGERDUTY] = PagerDutyNotifier(renderer, base_url=ch.pagerduty.base_url,
                                                   timeout=ch.pagerduty.timeout, session=session())
    if ch.email is not None:
        out[Channel.EMAIL] = EmailNotifier(ch.email, renderer)
    if ch.webpush is not None and db is not None:
        out[Channel.PUSH] = build_webpush(cfg, ch.webpush, db, renderer, clock, session())
    return out


def routing_keys(cfg: TocsinConfig) -> Mapping[str, SecretStr]:
    return dict(cfg.channels.pagerduty.services) if cfg.channels.pagerduty else {}
