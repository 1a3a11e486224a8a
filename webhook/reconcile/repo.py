"""Reconcile's reads and writes: firing alerts of open incidents, known episodes, suppression rows."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from webhook.incidents.model import PREVENTIVE_PREFIX, State
from webhook.incidents.tables import alerts, incidents
from webhook.reconcile.decide import Held, Key, Suppression, episode_key
from webhook.reconcile.tables import incident_suppressions as sup

_CHUNK = 500


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    items = sorted(set(values))
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


def held_alerts(conn: Connection, only: Collection[Key] | None = None) -> list[Held]:
    """Episodes stored as firing on open incidents (all of them, or those of `only`). Tocsin's own preventive alerts
    are not Alertmanager's to list: they are never held (else reconcile would close them as gone)."""
    q = (select(alerts.c.fingerprint, alerts.c.starts_at, alerts.c.incident_id, alerts.c.labels,
                alerts.c.annotations, alerts.c.generator_url)
         .join(incidents, incidents.c.id == alerts.c.incident_id)
         .where(alerts.c.status == "firing", incidents.c.state != State.RESOLVED.value,
                alerts.c.fingerprint.not_like(f"{PREVENTIVE_PREFIX}%"))
         .order_by(alerts.c.id))
    if only is None:
        rows = list(conn.execute(q))
    else:
        rows = [r for fps in _chunks(fp for fp, _ in only)
                for r in conn.execute(q.where(alerts.c.fingerprint.in_(fps)))]
    out = [Held(r[0], r[1], r[2], _mapping(r[3]), _mapping(r[4]), r[5]) for r in rows]
    return out if only is None else [h for h in out if h.key in only]


def firing_keys(conn: Connection, keys: Collection[Key]) -> set[Key]:
    """Which of these episodes Tocsin has a firing row of (on any incident, open or resolved by a human)."""
    found: set[Key] = set()
    for fps in _chunks(fp for fp, _ in keys):
        found |= {episode_key(r[0], r[1]) for r in conn.execute(
            select(alerts.c.fingerprint, alerts.c.starts_at).where(alerts.c.fingerprint.in_(fps),
                                                                   alerts.c.status == "firing"))}
    return found & set(keys)


def stored_starts(conn: Connection, fingerprints: Collection[str]) -> set[tuple[str, datetime]]:
    """Every (fingerprint, starts_at) stored for these fingerprints, exactly as stored."""
    out: set[tuple[str, datetime]] = set()
    for fps in _chunks(fingerprints):
        out |= {(r[0], r[1]) for r in conn.execute(
            select(alerts.c.fingerprint, alerts.c.starts_at).where(alerts.c.fingerprint.in_(fps)))}
    return out


def incidents_of(conn: Connection, keys: Collection[Key]) -> dict[Key, int]:
    """The incident each of these episodes is on as a firing alert (others are left out)."""
    out: dict[Key, int] = {}
    for fps in _chunks(fp for fp, _ in keys):
        for r in conn.execute(select(alerts.c.fingerprint, alerts.c.starts_at, alerts.c.incident_id)
                              .where(alerts.c.fingerprint.in_(fps), alerts.c.incident_id.is_not(None),
                                     alerts.c.status == "firing")):
            k = episode_key(r[0], r[1])
            if k in keys:
                out[k] = r[2]
    return out


def suppressions(conn: Connection) -> dict[int, Suppression]:
    return {r.incident_id: Suppression(tuple(r.silenced_by), tuple(r.inhibited_by), r.suppressed_alerts,
                                       r.listed_alerts) for r in conn.execute(select(sup))}


def save_suppression(conn: Connection, incident_id: int, after: Suppression | None, silences: list[dict[str, Any]],
                     now: datetime) -> None:
    """Write an incident's suppression (insert or update; `since` stays from the first), or delete it."""
    if after is None:
        conn.execute(delete(sup).where(sup.c.incident_id == incident_id))
        return
    values = {"silenced_by": list(after.silenced_by), "inhibited_by": list(after.inhibited_by),
              "silences": silences, "suppressed_alerts": after.suppressed, "listed_alerts": after.listed,
              "updated_at": now}
    if conn.execute(update(sup).where(sup.c.incident_id == incident_id).values(**values)).rowcount == 0:
        conn.execute(insert(sup).values(incident_id=incident_id, since=now, **values))


def _mapping(value: Any) -> dict[str, str]:
    return dict(value) if isinstance(value, dict) else {}
