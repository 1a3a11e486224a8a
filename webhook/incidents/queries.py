"""Reads of incidents for the API and the metrics: lists with filters, one incident with its timeline, open counts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, column, func, select, table

from webhook.incidents.model import NotFound, State
from webhook.incidents.tables import alerts, incident_events, incidents
from webhook.store.raw import Raw

MAX_PAGE = 500

#: The reconcile feature's suppression rows (webhook/reconcile/tables.py), read here by name: incidents sit below
#: reconcile in the layers and must not import it.
_suppressions = table("incident_suppressions", column("incident_id"), column("silenced_by"),
                      column("inhibited_by"), column("silences"), column("suppressed_alerts"),
                      column("listed_alerts"), column("since"))


@dataclass(frozen=True)
class IncidentFilter:
    state: list[str] | None = None
    severity: list[str] | None = None
    labels: dict[str, str] | None = None
    limit: int = 100
    before_id: int | None = None


def _row(r: Any) -> dict[str, Any]:
    d = dict(r._mapping)
    for k, v in list(d.items()):
        if isinstance(v, datetime):
            d[k] = v.isoformat()
    return d


def list_incidents(conn: Connection, f: IncidentFilter) -> list[dict[str, Any]]:
    q = select(incidents).order_by(incidents.c.id.desc()).limit(min(max(f.limit, 1), MAX_PAGE))
    if f.state:
        q = q.where(incidents.c.state.in_(f.state))
    if f.severity:
        q = q.where(incidents.c.severity.in_(f.severity))
    for name, value in (f.labels or {}).items():
        q = q.where(incidents.c.labels[name].as_string() == value)
    if f.before_id is not None:
        q = q.where(incidents.c.id < f.before_id)
    return [_row(r) for r in conn.execute(q).all()]


def get_incident(conn: Connection, incident_id: int, timeline_limit: int = 1000) -> dict[str, Any]:
    row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).first()
    if row is None:
        raise NotFound(incident_id)
    out = _row(row)
    out["alerts"] = [_row(r) for r in conn.execute(
        select(alerts).where(alerts.c.incident_id == incident_id).order_by(alerts.c.id).limit(timeline_limit))]
    out["timeline"] = [_row(r) for r in conn.execute(
        select(incident_events).where(incident_events.c.incident_id == incident_id)
        .order_by(incident_events.c.id).limit(timeline_limit))]
    out["suppression"] = _suppression(conn, incident_id)
    return out


def _suppression(conn: Connection, incident_id: int) -> dict[str, Any] | None:
    """What Alertmanager suppresses of the incident's firing alerts (reconcile), None when nothing is."""
    row = conn.execute(select(_suppressions).where(_suppressions.c.incident_id == incident_id)).first()
    if row is None:
        return None
    return {"silenced_by": Raw.read_js(row.silenced_by), "inhibited_by": Raw.read_js(row.inhibited_by),
            "silences": Raw.read_js(row.silences), "suppressed_alerts": row.suppressed_alerts,
            "listed_alerts": row.listed_alerts,
            "since": Raw.read_when(row.since).isoformat()}


def open_counts(conn: Connection) -> list[tuple[str, str, int]]:
    """(severity, state, count) of incidents not resolved, for the /metrics gauge."""
    q = select(incidents.c.severity, incidents.c.state, func.count()).where(
        incidents.c.state != State.RESOLVED.value).group_by(incidents.c.severity, incidents.c.state)
    return [(r[0], r[1], int(r[2])) for r in conn.execute(q)]


def incident_rows(conn: Connection, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    wanted = sorted(set(ids))
    out: dict[int, dict[str, Any]] = {}
    for i in range(0, len(wanted), 500):
        q = select(incidents).where(incidents.c.id.in_(wanted[i:i + 500]))
        out.update({r.id: dict(r._mapping) for r in conn.execute(q)})
    return out
