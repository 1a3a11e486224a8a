"""Reads of incidents for the API and the metrics: lists with filters, one incident with its timeline, open counts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, case, column, func, or_, select, table, text

from webhook.incidents.model import SEVERITY_RANK, NotFound, State
from webhook.incidents.tables import alerts, incident_events, incidents
from webhook.store.raw import Raw

MAX_PAGE = 500
#: Longest search text (`q`) of the incident list.
MAX_SEARCH = 200
#: `sort=urgency`: open before resolved; triggered, then acknowledged, then snoozed.
STATE_RANK = {State.TRIGGERED.value: 0, State.ACKNOWLEDGED.value: 1, State.SNOOZED.value: 2,
              State.RESOLVED.value: 3}

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
    #: teams: incidents whose `team_label` label (escalation.noise.team_label, what escalation runs record as
    #: their team) is one of them
    teams: list[str] | None = None
    team_label: str = "team"
    #: case-insensitive text in the title (alertname and summary), the summary annotation or any label value
    search: str | None = None
    #: "newest" (id descending, pages with before_id) or "urgency" (see STATE_RANK, then severity, oldest first)
    sort: str = "newest"


def row_json(r: Any) -> dict[str, Any]:
    """An incident row as the list shows it (datetimes in ISO 8601)."""
    return _row(r)


def _row(r: Any) -> dict[str, Any]:
    d = dict(r._mapping)
    for k, v in list(d.items()):
        if isinstance(v, datetime):
            d[k] = v.isoformat()
    return d


def like_pattern(needle: str) -> str:
    """A LIKE pattern (ESCAPE '\\') finding `needle` anywhere, its wildcards and quotes taken literally."""
    escaped = needle.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _search(conn: Connection, needle: str) -> ColumnElement[bool]:
    pattern = like_pattern(needle)
    # label values: a JSON table function per dialect (a text match on the JSON would also find keys and
    # the escaped form of quotes)
    each = ("SELECT 1 FROM jsonb_each_text(incidents.labels) AS l(k, v) WHERE lower(l.v)"
            if conn.dialect.name == "postgresql"
            else "SELECT 1 FROM json_each(incidents.labels) AS l WHERE lower(l.value)")
    each += " LIKE :board_q ESCAPE '\\'"
    summary = incidents.c.annotations["summary"].as_string()
    return or_(func.lower(incidents.c.title).like(pattern, escape="\\"),
               func.lower(summary).like(pattern, escape="\\"),
               text(f"EXISTS ({each})").bindparams(board_q=pattern))


def _urgency() -> list[ColumnElement[Any]]:
    state = case(STATE_RANK, value=incidents.c.state, else_=len(STATE_RANK))
    severity = case(SEVERITY_RANK, value=incidents.c.severity, else_=0)
    return [state, severity.desc(), incidents.c.opened_at, incidents.c.id]


def list_incidents(conn: Connection, f: IncidentFilter) -> list[dict[str, Any]]:
    order = _urgency() if f.sort == "urgency" else [incidents.c.id.desc()]
    q = select(incidents).order_by(*order).limit(min(max(f.limit, 1), MAX_PAGE))
    if f.teams:
        q = q.where(incidents.c.labels[f.team_label].as_string().in_(f.teams))
    if f.search:
        q = q.where(_search(conn, f.search[:MAX_SEARCH]))
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


_ROWS = select(incidents).where(incidents.c.id.in_(bindparam("ids", expanding=True)))  # built once: a hot path


def incident_rows(conn: Connection, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    wanted = sorted(set(ids))
    out: dict[int, dict[str, Any]] = {}
    for i in range(0, len(wanted), 500):
        out.update({r.id: dict(r._mapping) for r in conn.execute(_ROWS, {"ids": wanted[i:i + 500]})})
    return out
