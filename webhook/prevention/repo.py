"""Prevention's reads: the preventive alert episodes stored as firing, and the incidents they fire on."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, select

from webhook.incidents.model import State
from webhook.incidents.tables import alerts, incidents
from webhook.prevention.decide import Held


def held(conn: Connection, prefix: str) -> list[Held]:
    """Firing episodes whose fingerprint starts with `prefix`, on any incident (a human may have resolved it)."""
    q = (select(alerts.c.fingerprint, alerts.c.starts_at, alerts.c.incident_id, incidents.c.state, alerts.c.labels,
                alerts.c.annotations, alerts.c.generator_url)
         .outerjoin(incidents, incidents.c.id == alerts.c.incident_id)
         .where(alerts.c.status == "firing", alerts.c.fingerprint.startswith(prefix, autoescape=True))
         .order_by(alerts.c.id))
    return [Held(r[0], r[1], r[2], r[3] is not None and r[3] != State.RESOLVED.value, _mapping(r[4]),
                 _mapping(r[5]), r[6]) for r in conn.execute(q)]


def firing_on(conn: Connection, fingerprints: Collection[str]) -> dict[str, int]:
    """The incident each of these fingerprints fires on now (the newest episode's)."""
    if not fingerprints:
        return {}
    q = (select(alerts.c.fingerprint, alerts.c.incident_id)
         .where(alerts.c.fingerprint.in_(sorted(fingerprints)), alerts.c.status == "firing",
                alerts.c.incident_id.is_not(None))
         .order_by(alerts.c.starts_at))
    return {r[0]: r[1] for r in conn.execute(q)}


def _mapping(value: Any) -> dict[str, str]:
    return dict(value) if isinstance(value, dict) else {}
