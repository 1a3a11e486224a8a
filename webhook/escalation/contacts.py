"""Escalation targets -> concrete contacts (channel, address, when): people via their contact rules."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from webhook.config.channels import ChannelsConfig
from webhook.config.escalation import Target
from webhook.config.oncall import ContactChannel, OnCallConfig, Responder
from webhook.notifiers import Channel
from webhook.oncall.schedule import who_is_on_call

#: Order in which a person's other channels are tried when one fails permanently.
FALLBACK_ORDER: tuple[ContactChannel, ...] = ("sms", "voice", "email", "slack")


@dataclass(frozen=True, slots=True)
class Contact:
    channel: Channel
    address: str
    #: Responder name for people (rate limits, locale, timeline), None for channel targets.
    responder: str | None
    locale: str
    #: From the step firing to this contact (contact rules such as "SMS after 2 min").
    delay: timedelta
    #: Other (channel, address) pairs of the same person, in the order to try them.
    fallback: tuple[tuple[str, str], ...] = ()


def people(target: Target, oncall: OnCallConfig, at: datetime) -> list[Responder]:
    """The responders a people target means at `at` (schedules resolved when the step fires)."""
    responders = oncall.responder_map()
    names: list[str] = []
    if target.user:
        names = [target.user]
    elif target.schedule:
        names = [r.name for r in who_is_on_call(oncall.schedule(target.schedule), at, oncall.responder_map())]
    elif target.team:
        team = next(t for t in oncall.teams if t.name == target.team)
        if target.role == "lead":
            names = [team.lead] if team.lead else []
        elif target.role == "members":
            names = list(team.members)
        elif team.schedule:
            names = [r.name for r in who_is_on_call(oncall.schedule(team.schedule), at, oncall.responder_map())]
    return [responders[n] for n in names if n in responders]


def _person(r: Responder, via: tuple[ContactChannel, ...]) -> list[Contact]:
    rules = [(c, timedelta(0)) for c in via] if via else [(rule.channel, rule.after) for rule in r.contact_rules]
    out = []
    for channel, delay in rules:
        address = r.address(channel)
        if address is None:
            continue
        order = [c for c in dict.fromkeys([*(c for c, _ in rules), *FALLBACK_ORDER]) if c != channel]
        fallback = tuple((c, a) for c in order if (a := r.address(c)) is not None)
        out.append(Contact(Channel(channel), address, r.name, r.locale, delay, fallback))
    return out


def _channel(target: Target, channels: ChannelsConfig) -> Contact:
    locale = channels.locale
    if target.slack:
        address = target.slack
        if address == "default":
            address = channels.slack.default_channel if channels.slack else "#alerts"
        return Contact(Channel.SLACK, address, None, locale, timedelta(0))
    if target.pagerduty:
        return Contact(Channel.PAGERDUTY, target.pagerduty, None, locale, timedelta(0))
    assert target.email is not None
    return Contact(Channel.EMAIL, target.email, None, locale, timedelta(0))


def resolve(targets: Iterable[Target], oncall: OnCallConfig, channels: ChannelsConfig, at: datetime) -> list[Contact]:
    """Every contact of a step, once per (channel, address) with the earliest delay."""
    found: dict[tuple[Channel, str], Contact] = {}
    for target in targets:
        contacts = ([c for r in people(target, oncall, at) for c in _person(r, target.via)]
                    if target.is_people else [_channel(target, channels)])
        for c in contacts:
            seen = found.get((c.channel, c.address))
            if seen is None or c.delay < seen.delay:
                found[(c.channel, c.address)] = c
    return list(found.values())
