"""Push subscriptions in the database: add (at most N per person), list, remove, record send outcomes."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from webhook.push.tables import push_subscriptions as ps


class TooManySubscriptions(Exception):
    """The person already keeps the configured maximum of subscriptions."""


class EndpointTaken(Exception):
    """The endpoint is subscribed by another person (they remove it first)."""


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    person: str
    endpoint: str = field(repr=False)  # a capability URL: kept out of logs and reprs
    p256dh: str = field(repr=False)
    auth: str = field(repr=False)
    device: str
    created_at: datetime
    last_success: datetime | None = None
    last_failure: datetime | None = None
    last_error: str | None = None

    @property
    def endpoint_hash(self) -> str:
        return endpoint_hash(self.endpoint)

    def to_json(self) -> dict[str, Any]:
        """What the person sees of their device list: no keys, the endpoint only as its origin and hash."""
        origin = "/".join(self.endpoint.split("/", 3)[:3])
        return {"id": self.id, "device": self.device, "push_service": origin, "endpoint_hash": self.endpoint_hash,
                "created_at": self.created_at.isoformat(),
                "last_success": self.last_success.isoformat() if self.last_success else None,
                "last_failure": self.last_failure.isoformat() if self.last_failure else None,
                "last_error": self.last_error}


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What one push to one subscription did: `gone` subscriptions (404/410) are deleted."""

    subscription_id: int
    ok: bool
    gone: bool = False
    error: str | None = None


def endpoint_hash(endpoint: str) -> str:
    """A short stable name of an endpoint for logs (the URL itself lets anyone push to that browser)."""
    return hashlib.sha256(endpoint.encode()).hexdigest()[:12]


def _sub(row: Any) -> Subscription:
    m = row._mapping
    return Subscription(int(m["id"]), m["person"], m["endpoint"], m["p256dh"], m["auth"], m["device"],
                        m["created_at"], m["last_success"], m["last_failure"], m["last_error"])


def add(conn: Connection, person: str, endpoint: str, p256dh: str, auth: str, device: str, now: datetime,
        limit: int) -> int:
    """Store a subscription for `person`; the same endpoint again (a browser renewing its keys) updates it."""
    found = conn.execute(select(ps.c.id, ps.c.person).where(ps.c.endpoint == endpoint).with_for_update()).first()
    if found is not None:
        if found.person != person:
            raise EndpointTaken
        conn.execute(update(ps).where(ps.c.id == found.id).values(p256dh=p256dh, auth=auth, device=device))
        return int(found.id)
    count = conn.execute(select(func.count()).select_from(ps).where(ps.c.person == person)).scalar_one()
    if count >= limit:
        raise TooManySubscriptions
    new = conn.execute(insert(ps).values(person=person, endpoint=endpoint, p256dh=p256dh, auth=auth,
                                         device=device, created_at=now).returning(ps.c.id)).scalar_one()
    return int(new)


def for_person(conn: Connection, person: str) -> list[Subscription]:
    return [_sub(r) for r in conn.execute(select(ps).where(ps.c.person == person).order_by(ps.c.id))]


def remove(conn: Connection, person: str, subscription_id: int) -> bool:
    """Delete one of `person`'s subscriptions; False when there is none of theirs with that id."""
    gone = conn.execute(delete(ps).where(ps.c.id == subscription_id, ps.c.person == person)).rowcount
    return bool(gone)


def record(conn: Connection, outcomes: Sequence[SendOutcome], now: datetime) -> None:
    """Note when each subscription last worked or failed; delete those the push service says are gone."""
    gone = [o.subscription_id for o in outcomes if o.gone]
    if gone:
        conn.execute(delete(ps).where(ps.c.id.in_(gone)))
    for o in outcomes:
        if o.gone:
            continue
        values: dict[str, Any] = {"last_success": now} if o.ok else \
            {"last_failure": now, "last_error": (o.error or "")[:500]}
        conn.execute(update(ps).where(ps.c.id == o.subscription_id).values(**values))
