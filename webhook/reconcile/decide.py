"""The reconcile decisions, pure: Tocsin's firing alerts and Alertmanager's listings -> close, adopt, suppression.

An alert episode is (fingerprint, startsAt). Alertmanager's API gives startsAt to the millisecond, webhooks to the
nanosecond and the database to the microsecond: episodes are compared at the millisecond.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple

Key = tuple[str, datetime]


def episode_key(fingerprint: str, starts_at: datetime) -> Key:
    at = starts_at.replace(tzinfo=UTC) if starts_at.tzinfo is None else starts_at.astimezone(UTC)
    return fingerprint, at.replace(microsecond=at.microsecond // 1000 * 1000)


class AlertState(StrEnum):
    """Alertmanager's status.state of a listed alert."""

    ACTIVE = "active"
    SUPPRESSED = "suppressed"  # silenced or inhibited: still there, only not notified
    UNPROCESSED = "unprocessed"  # received, not yet through silences and inhibitions


#: When the Alertmanagers of a pair disagree (gossip lag), the more cautious state wins: never adopt (page for)
#: an alert one of them already has silenced.
_PRECEDENCE = {AlertState.SUPPRESSED: 2, AlertState.ACTIVE: 1, AlertState.UNPROCESSED: 0}


class Listed(NamedTuple):
    """An alert Alertmanager lists for one of Tocsin's receivers."""

    fingerprint: str
    starts_at: datetime
    state: AlertState
    silenced_by: tuple[str, ...] = ()
    inhibited_by: tuple[str, ...] = ()
    labels: Mapping[str, str] = {}
    annotations: Mapping[str, str] = {}
    ends_at: datetime | None = None
    generator_url: str = ""

    @property
    def key(self) -> Key:
        return episode_key(self.fingerprint, self.starts_at)


class Held(NamedTuple):
    """An alert episode Tocsin holds as firing on an open incident."""

    fingerprint: str
    starts_at: datetime
    incident_id: int
    labels: Mapping[str, str] = {}
    annotations: Mapping[str, str] = {}
    generator_url: str = ""

    @property
    def key(self) -> Key:
        return episode_key(self.fingerprint, self.starts_at)


class Suppression(NamedTuple):
    """What Alertmanager suppresses of one open incident's firing alerts."""

    silenced_by: tuple[str, ...]
    inhibited_by: tuple[str, ...]
    suppressed: int  # firing alerts listed as suppressed
    listed: int  # firing alerts listed at all


class Change(NamedTuple):
    incident_id: int
    before: Suppression | None
    after: Suppression | None
    #: False for an incident no longer open: its row goes without a timeline entry
    open: bool = True


class Memory(NamedTuple):
    """What the previous complete poll found: a decision needs the same finding in two consecutive polls."""

    missing: frozenset[Key] = frozenset()  # held by Tocsin, listed by no Alertmanager
    unadopted: frozenset[Key] = frozenset()  # listed active, unknown to Tocsin


class Plan(NamedTuple):
    close: list[Held]
    adopt: list[Listed]
    suppression: list[Change]
    memory: Memory


def merge(listings: Iterable[Sequence[Listed]]) -> dict[Key, Listed]:
    """The union over the Alertmanagers of a pair: listed by any; silences and inhibitions of all."""
    out: dict[Key, Listed] = {}
    for listing in listings:
        for a in listing:
            seen = out.get(a.key)
            if seen is None:
                out[a.key] = a
                continue
            state = max(seen.state, a.state, key=_PRECEDENCE.__getitem__)
            out[a.key] = seen._replace(state=state,
                                       silenced_by=tuple(sorted({*seen.silenced_by, *a.silenced_by})),
                                       inhibited_by=tuple(sorted({*seen.inhibited_by, *a.inhibited_by})))
    return out


def plan(held: Sequence[Held], known: Iterable[Key], listed: Mapping[Key, Listed], memory: Memory,
         stored: Mapping[int, Suppression]) -> Plan:
    """Decide one complete poll (every Alertmanager answered).

    `held`: Tocsin's firing episodes on open incidents; `known`: the listed episodes Tocsin has a firing row of
    (a listed episode Tocsin has only as resolved fired again: Alertmanager lost it, then got it back);
    `stored`: the suppression rows as they are. Closed: held and listed by none, in this and the previous poll.
    Adopted: listed active and unknown to Tocsin, in this and the previous poll (a webhook that is merely on its
    way, within group_wait, is not raced).
    """
    by_key = {h.key: h for h in held}
    missing = frozenset(k for k in by_key if k not in listed)
    known_keys = set(known)
    unadopted = frozenset(k for k, a in listed.items() if a.state is AlertState.ACTIVE and k not in known_keys)
    close = [by_key[k] for k in sorted(missing & memory.missing)]
    adopt = [listed[k] for k in sorted(unadopted & memory.unadopted)]
    closing = {h.key for h in close}
    return Plan(close, adopt, _suppression([h for h in held if h.key not in closing], listed, stored),
                Memory(missing, unadopted))


def _suppression(held: Sequence[Held], listed: Mapping[Key, Listed],
                 stored: Mapping[int, Suppression]) -> list[Change]:
    per: dict[int, list[Listed]] = {}
    for h in held:
        bucket = per.setdefault(h.incident_id, [])
        if (a := listed.get(h.key)) is not None:
            bucket.append(a)
    changes = []
    for inc in sorted(per.keys() | stored.keys()):
        after = suppression_of(per[inc]) if inc in per else None
        before = stored.get(inc)
        if after != before:
            changes.append(Change(inc, before, after, open=inc in per))
    return changes


def suppression_of(alerts: Sequence[Listed]) -> Suppression | None:
    """An incident's suppression from its listed firing alerts; None when none of them is suppressed."""
    quiet = [a for a in alerts if a.state is AlertState.SUPPRESSED]
    if not quiet:
        return None
    return Suppression(tuple(sorted({s for a in quiet for s in a.silenced_by})),
                       tuple(sorted({i for a in quiet for i in a.inhibited_by})), len(quiet), len(alerts))


def timeline(change: Change) -> list[tuple[str, dict[str, Any]]]:
    """The timeline entries of a suppression change: (kind, detail); silences are named by id (the caller adds
    their comment and author)."""
    if not change.open:
        return []
    before = change.before or Suppression((), (), 0, 0)
    after = change.after or Suppression((), (), 0, 0)
    out: list[tuple[str, dict[str, Any]]] = []
    for sid in after.silenced_by:
        if sid not in before.silenced_by:
            out.append(("silenced", {"silence_id": sid, "alerts": after.suppressed, "of": after.listed}))
    for sid in before.silenced_by:
        if sid not in after.silenced_by:
            out.append(("unsilenced", {"silence_id": sid}))
    if after.inhibited_by and not before.inhibited_by:
        out.append(("inhibited", {"inhibited_by": list(after.inhibited_by)}))
    elif before.inhibited_by and not after.inhibited_by:
        out.append(("uninhibited", {"inhibited_by": list(before.inhibited_by)}))
    return out
