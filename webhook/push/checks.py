"""Config findings about Web Push: a critical page must never reach a person through push alone (it cannot
break through Do Not Disturb), and push contacts need `channels.webpush`."""

from __future__ import annotations

from collections.abc import Iterator

from webhook.config import TocsinConfig
from webhook.config.escalation import Route, Target
from webhook.config.oncall import OnCallConfig

CRITICAL = {"severity": "critical"}


def _critical_policies(route: Route, inherited: str | None, critical: bool) -> Iterator[tuple[str, str]]:
    """(route name, policy) of every route that critical alerts reach: its severity matchers accept critical."""
    policy = route.policy or inherited
    severity = [m for m in route.parsed() if m.name == "severity"]
    critical = critical or (bool(severity) and all(m.matches(CRITICAL) for m in severity))
    if critical and policy:
        yield route.name or "(root)", policy
    for child in route.routes:
        yield from _critical_policies(child, policy, critical)


def _people(target: Target, oncall: OnCallConfig) -> list[str]:
    """Everyone a people target may mean (any shift of a schedule)."""
    def of_schedule(name: str) -> list[str]:
        s = oncall.schedule(name)
        return [p for la in s.layers for p in la.participants] + [o.user for o in s.overrides]

    if target.user:
        return [target.user]
    if target.schedule:
        return of_schedule(target.schedule)
    team = next((t for t in oncall.teams if t.name == target.team), None)
    if team is None:
        return []
    if target.role == "lead":
        return [team.lead] if team.lead else []
    if target.role == "members":
        return list(team.members)
    return of_schedule(team.schedule) if team.schedule else []


def push_only_findings(cfg: TocsinConfig) -> list[str]:
    """Warnings for each person the first step of a critical route's policy reaches through push alone."""
    responders = cfg.oncall.responder_map()
    policies = {p.name: p for p in cfg.escalation.policies}
    found: list[str] = []
    for route, name in dict.fromkeys(_critical_policies(cfg.escalation.route, None, False)):
        policy = policies.get(name)
        if policy is None or not policy.steps:
            continue
        for target in policy.steps[0].targets:
            if not target.is_people:
                continue
            for person in dict.fromkeys(_people(target, cfg.oncall)):
                r = responders.get(person)
                channels = set(target.via) if target.via else {c.channel for c in r.contact_rules} if r else set()
                if channels == {"push"}:
                    found.append(f"route {route} (policy {name}): the first step reaches {person} only via push; "
                                 "Web Push cannot break through Do Not Disturb, add sms, voice or slack")
    return found


def push_unconfigured_findings(cfg: TocsinConfig) -> list[str]:
    """Push contact rules and `via: [push]` targets while channels.webpush is not set (pages go to the log)."""
    if cfg.channels.webpush is not None:
        return []
    people = sorted(r.name for r in cfg.oncall.responders if any(c.channel == "push" for c in r.contact_rules))
    policies = sorted({p.name for p in cfg.escalation.policies for s in p.steps for t in s.targets if "push" in t.via})
    found = [f"responder {n} has a push contact rule" for n in people]
    found += [f"policy {n} pages via push" for n in policies]
    return [f"{f}, but channels.webpush is not configured: those pages only go to the log" for f in found]


def push_findings(cfg: TocsinConfig) -> list[str]:
    """Every Web Push warning of a config (logged at start)."""
    return push_unconfigured_findings(cfg) + push_only_findings(cfg)
