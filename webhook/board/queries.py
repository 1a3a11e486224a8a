"""Reads of the board: the change feed (incident_events ids are the change marker: every state change writes one)
and what the incident page shows beside the timeline (pages with their delivery state, runbook runs with their
steps, links).

Several replicas write to one database, so the feed is read from it, never from in-process hooks. On PostgreSQL ids
come from a sequence at insert time, and a transaction that took a lower id may commit after one with a higher id:
the poller (hub.py) remembers the ids it skipped ("gaps") and reads them again until they appear or time out.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, func, or_, select

from webhook.incidents.queries import row_json
from webhook.incidents.tables import alerts, incident_events, incidents
from webhook.notifiers.tables import deliveries
from webhook.remediation.tables import remediation_runs, remediation_steps

ev = incident_events.c
#: Deliveries, runs and alerts read for one incident page at most.
MAX_ROWS = 500
#: Annotation (or label) names that carry a link, and the key the page shows it under.
LINK_KEYS = {"runbook_url": "runbook", "runbook": "runbook", "dashboard_url": "dashboard", "dashboard": "dashboard",
             "grafana_url": "dashboard"}


def top_marker(conn: Connection) -> int:
    """The newest change marker (0 on an empty database)."""
    return int(conn.execute(select(func.coalesce(func.max(ev.id), 0))).scalar_one())


def changes(conn: Connection, after: int, gaps: Iterable[int], limit: int) -> list[tuple[int, int]]:
    """(marker, incident id) of the changes after `after` or among `gaps`, oldest first, at most `limit`."""
    wanted = sorted(set(gaps))
    cond = or_(ev.id > after, ev.id.in_(wanted)) if wanted else ev.id > after
    q = select(ev.id, ev.incident_id).where(cond).order_by(ev.id).limit(limit)
    return [(int(r[0]), int(r[1])) for r in conn.execute(q)]


def board_rows(conn: Connection, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The incidents as GET /api/v1/incidents lists them (a deleted one is absent)."""
    wanted = sorted(set(ids))
    out: dict[int, dict[str, Any]] = {}
    for i in range(0, len(wanted), 500):
        out.update({int(r.id): row_json(r) for r in conn.execute(
            select(incidents).where(incidents.c.id.in_(wanted[i:i + 500])))})
    return out


def since(conn: Connection, after: int, limit: int) -> list[tuple[int, dict[str, Any]]] | None:
    """Resume after `after`: (latest marker, incident) of every incident changed since, oldest change first.

    None when that is more than `limit` incidents, or `after` is older than the oldest change still stored
    (retention deleted some): the page must reload its list.
    """
    oldest = conn.execute(select(func.min(ev.id))).scalar()
    if oldest is not None and after < int(oldest) - 1:
        return None
    latest = func.max(ev.id)
    q = (select(ev.incident_id, latest).where(ev.id > after).group_by(ev.incident_id).order_by(latest)
         .limit(limit + 1))
    found = [(int(r[0]), int(r[1])) for r in conn.execute(q)]
    if len(found) > limit:
        return None
    rows = board_rows(conn, [i for i, _ in found])
    return [(marker, rows[i]) for i, marker in found if i in rows]


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime) else v


def delivery_state(row: Any, now: datetime) -> str:
    """queued (never tried), sending (claimed now), retrying (failed before, tried again later), sent, failed,
    cancelled (the incident was acknowledged or resolved before it went out)."""
    if row.status == "pending":
        if row.claimed_until is not None and row.claimed_until > now:
            return "sending"
        return "retrying" if row.attempts > 0 else "queued"
    return str({"delivered": "sent"}.get(row.status, row.status))


def incident_deliveries(conn: Connection, incident_id: int, now: datetime) -> list[dict[str, Any]]:
    d = deliveries.c
    q = (select(d.id, d.kind, d.channel, d.address, d.responder, d.status, d.attempts, d.claimed_until, d.due_at,
                d.next_attempt_at, d.finished_at, d.last_error, d.step_seq, d.severity)
         .where(d.incident_id == incident_id).order_by(d.id).limit(MAX_ROWS))
    return [{"id": r.id, "kind": r.kind, "channel": r.channel, "to": r.responder or r.address,
             "state": delivery_state(r, now), "attempts": r.attempts, "step": r.step_seq,
             "due_at": _iso(r.due_at), "next_attempt_at": _iso(r.next_attempt_at) if r.status == "pending" else None,
             "finished_at": _iso(r.finished_at), "error": (r.last_error or "")[:500] or None}
            for r in conn.execute(q)]


def incident_runs(conn: Connection, incident_id: int) -> list[dict[str, Any]]:
    """Runbook runs started for the incident (remediation stores the incident id as text), with every step."""
    ru, st = remediation_runs.c, remediation_steps.c
    runs = [dict(r._mapping) for r in conn.execute(
        select(ru.id, ru.runbook_id, ru.status, ru.outcome, ru.dry_run, ru.reason, ru.triggered_by, ru.created_at,
               ru.started_at, ru.finished_at).where(ru.incident_id == str(incident_id)).order_by(ru.id)
        .limit(MAX_ROWS))]
    steps: dict[int, list[dict[str, Any]]] = {r["id"]: [] for r in runs}
    if runs:
        for s in conn.execute(select(st.run_id, st.phase, st.step_index, st.action, st.summary, st.outcome,
                                     st.dry_run, st.guard, st.reason, st.started_at, st.finished_at)
                              .where(st.run_id.in_(list(steps)))
                              .order_by(st.run_id, st.phase.desc(), st.step_index)):
            steps[s.run_id].append({k: _iso(v) for k, v in s._mapping.items() if k != "run_id"})
    return [{**{k: _iso(v) for k, v in r.items()}, "id": str(r["id"]), "steps": steps[r["id"]]} for r in runs]


def incident_links(conn: Connection, incident: dict[str, Any], alertmanager: str | None) -> dict[str, Any]:
    """Links of the incident's alerts: runbook and dashboard (annotations, then labels), every distinct generator
    URL, and the Alertmanager (its UI filtered on the alert name) when one is configured."""
    out: dict[str, Any] = {}
    sources = [incident.get("annotations") or {}, incident.get("labels") or {}]
    rows = conn.execute(select(alerts.c.annotations, alerts.c.generator_url)
                        .where(alerts.c.incident_id == incident["id"]).order_by(alerts.c.id).limit(MAX_ROWS)).all()
    sources += [r.annotations or {} for r in rows]
    for src in sources:
        for name, key in LINK_KEYS.items():
            value = src.get(name)
            if key not in out and isinstance(value, str) and _web(value):
                out[key] = value
    out["generator"] = list(dict.fromkeys(r.generator_url for r in rows if _web(r.generator_url)))[:20]
    if alertmanager:
        name = str((incident.get("labels") or {}).get("alertname", ""))
        out["alertmanager"] = alertmanager.rstrip("/") + "/#/alerts?filter=" + quote(f'{{alertname="{name}"}}')
    return out


def _web(url: str) -> bool:
    """Only http(s) links reach the page (a javascript: URL in an annotation must not become a link)."""
    return url.lower().startswith(("http://", "https://"))
