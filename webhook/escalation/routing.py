"""Labels -> escalation policies: a first-match tree with Alertmanager matchers, `continue` and time conditions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from remediator.matching import matches_all
from webhook.config.escalation import EscalationConfig, Route


@dataclass(frozen=True, slots=True)
class RouteMatch:
    policy: str
    #: Route names (or child indexes) from the root to the matching node, e.g. "root/critical/db".
    path: str


def _active(route: Route, at: datetime) -> bool:
    return not route.active_time or any(w.contains(at) for w in route.active_time)


def _matches(route: Route, labels: Mapping[str, str], at: datetime) -> bool:
    return matches_all(route.parsed(), labels) and _active(route, at)


def _walk(route: Route, labels: Mapping[str, str], at: datetime, inherited: str | None,
          path: str) -> list[RouteMatch]:
    """Like Alertmanager: the deepest matching node wins; siblings after a match only with `continue`."""
    policy = route.policy or inherited
    found: list[RouteMatch] = []
    for i, child in enumerate(route.routes):
        if not _matches(child, labels, at):
            continue
        found += _walk(child, labels, at, policy, f"{path}/{child.name or i}")
        if not child.continue_:
            break
    if found:
        return found
    return [RouteMatch(policy, path)] if policy else []


def route(cfg: EscalationConfig, labels: Mapping[str, str], at: datetime) -> list[RouteMatch]:
    """Policies for an incident with `labels` opened at `at` (empty: nobody is notified). Order kept, no repeats."""
    root = cfg.route
    if not _matches(root, labels, at):
        return []
    seen: dict[str, RouteMatch] = {}
    for m in _walk(root, labels, at, None, root.name or "root"):
        seen.setdefault(m.policy, m)
    return list(seen.values())
