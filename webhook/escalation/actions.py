"""What people do to an escalation from the board: escalate now (the next step fires at once) and reassign (page
another person, schedule or team now, as part of the incident's escalation)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from webhook.config import TocsinConfig
from webhook.config.escalation import Target
from webhook.escalation.contacts import resolve
from webhook.escalation.policy import idem
from webhook.escalation.repo import DUE_STATES
from webhook.escalation.tables import escalation_runs, escalation_steps
from webhook.incidents.model import NotFound, State, TransitionError
from webhook.incidents.tables import incident_events, incidents
from webhook.notifiers.outbox_repo import delivery_row, insert_deliveries
from webhook.oncall.changes import effective


class UnknownTarget(ValueError):
    """A reassign target the config does not define; the message lists what exists."""


def _event(conn: Connection, incident_id: int, now: datetime, kind: str, actor: str, detail: dict[str, Any]) -> None:
    """A timeline entry in the person's name (the audit trail of the board's actions)."""
    conn.execute(insert(incident_events).values(incident_id=incident_id, at=now, kind=kind, actor=actor[:128],
                                                detail=detail))


def _locked(conn: Connection, incident_id: int) -> Any:
    q = select(incidents.c.id, incidents.c.state, incidents.c.severity).where(incidents.c.id == incident_id)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).first()
    if row is None:
        raise NotFound(incident_id)
    return row


def escalate_now(conn: Connection, incident_id: int, actor: str, reason: str, now: datetime) -> dict[str, Any]:
    """The next step of each active run of the incident is due now (later steps keep their spacing from it).

    TransitionError when the incident is not triggered (acknowledged and snoozed incidents do not page), has no
    escalation, or its escalation ran its last step (a policy's `repeat` already scheduled the next cycle).
    """
    row = _locked(conn, incident_id)
    if row.state != State.TRIGGERED.value:
        raise TransitionError(f"cannot escalate an incident that is {row.state}: only triggered incidents page")
    s, r = escalation_steps.c, escalation_runs.c
    pending = conn.execute(
        select(s.id, s.run_id, s.step_index, s.due_at, r.policy).join(escalation_runs, r.id == s.run_id)
        .where(s.incident_id == incident_id, s.state.in_(DUE_STATES), r.state == "active")
        .order_by(s.run_id, s.due_at, s.seq)).all()
    if not pending:
        has_runs = conn.execute(select(r.id).where(r.incident_id == incident_id).limit(1)).first() is not None
        raise TransitionError("no further step: the escalation ran its last step" if has_runs
                              else "the incident has no escalation (no route matched)")
    advanced: dict[int, Any] = {}
    for p in pending:  # the earliest step of each run
        advanced.setdefault(p.run_id, p)
    for p in advanced.values():
        conn.execute(update(escalation_steps).where(s.id == p.id).values(state="pending", due_at=now))
    steps = [{"policy": p.policy, "step": p.step_index + 1, "was_due": p.due_at.isoformat()} for p in advanced.values()]
    detail: dict[str, Any] = {"steps": steps}
    if reason:
        detail["reason"] = reason[:500]
    _event(conn, incident_id, now, "escalated_now", actor, detail)
    return detail


def target_of(cfg: TocsinConfig, to: str) -> Target:
    """`alice`, `user:alice`, `schedule:primary` or `team:platform` as an escalation target the config defines."""
    kind, sep, name = to.partition(":")
    if not sep:
        kind, name = "user", to
    oncall = cfg.oncall
    known = {"user": sorted(r.name for r in oncall.responders), "schedule": sorted(s.name for s in oncall.schedules),
             "team": sorted(t.name for t in oncall.teams)}
    if kind not in known or name not in known[kind]:
        listing = "; ".join(f"{k}: {', '.join(v) or '-'}" for k, v in known.items())
        raise UnknownTarget(f"unknown target {to[:100]!r}: use a responder name, schedule:<name> or team:<name>"
                            f" ({listing})")
    if kind == "team":
        team = next(t for t in oncall.teams if t.name == name)
        return Target(team=name, role="oncall" if team.schedule else "members")
    return Target(**{kind: name})


def reassign(conn: Connection, cfg: TocsinConfig, incident_id: int, actor: str, to: str,
             now: datetime) -> dict[str, Any]:
    """Page `to` now about an open incident: deliveries of the incident like a step's (the later ack and resolve
    reach them too). TransitionError for a resolved incident, or when the target means nobody right now."""
    target = target_of(cfg, to)
    row = _locked(conn, incident_id)
    if row.state == State.RESOLVED.value:
        raise TransitionError("cannot reassign a resolved incident")
    contacts = resolve([target], effective(conn, cfg.oncall, now, now), cfg.channels, now)  # + stored overrides
    if not contacts:
        raise TransitionError(f"{target.describe()} means nobody to page right now (no one on call, no address)")
    # a triggered incident gets a page; an acknowledged or snoozed one a reminder (a page would be dropped unsent)
    kind = "trigger" if row.state == State.TRIGGERED.value else "reminder"
    note = f"reassigned by {actor}"
    rows = [delivery_row(idem(incident_id, "reassign", now.isoformat(), c.channel.value, c.address), incident_id,
                         None, None, kind, c.channel.value, c.address, c.responder, c.locale, row.severity,
                         now + c.delay, note, fallback=c.fallback) for c in contacts]
    insert_deliveries(conn, rows)
    detail: dict[str, Any] = {"to": target.describe(),
                              "contacts": [f"{c.channel.value}:{c.responder or c.address}" for c in contacts]}
    _event(conn, incident_id, now, "reassigned", actor, detail)
    return detail
