"""A seeded alert history for the report's oracle test and its bench: a list of plain incident specs, written
into the database the way the code writes it.

What goes through the real code: every human action (ack, resolve, snooze with the channel tag the callbacks
put on it: "via slack" (webhook/api/slack.py), "via sms" and "via voice" (webhook/api/twilio.py), none for the
API and the console; Tocsin has no e-mail-link or PagerDuty ack callback yet, so their acks carry the tags
"via email" and "via pagerduty" such callbacks would write) through webhook.incidents.actions.act, and every
"was this actionable?" answer through webhook.report.repo.set_feedback.
What is written directly, in the exact shape the code writes it: the incident rows as ingest inserts them
(webhook/ingest/batch.py: state, severity, labels, opened_at, flapping; an auto-resolve sets resolved_at and
resolved_by "alertmanager"), flap events (kind "flapping", actor "alertmanager"), escalation runs and fired
steps (webhook/escalation), deliveries with their final status (webhook/notifiers/outbox_repo.py), remediation
runs and approvals (webhook/remediation/run_store.py). Driving weeks of history through the webhook, the
escalation ticker and the outbox would take minutes per database for nothing the report reads differently.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, update

from webhook.escalation.tables import escalation_runs, escalation_steps
from webhook.incidents import actions
from webhook.incidents.tables import incident_events, incidents
from webhook.notifiers.tables import deliveries
from webhook.remediation.tables import remediation_approvals, remediation_runs
from webhook.report.repo import set_feedback

#: Six weeks across both DST ends of 2026: Europe/Berlin on Oct 25 (01:00 UTC), America/New_York on Nov 1
#: (06:00 UTC).
START = datetime(2026, 10, 5, tzinfo=UTC)
END = datetime(2026, 11, 16, tzinfo=UTC)

#: name -> (explicit zone or None, zone the report must use)
RESPONDERS: dict[str, tuple[str | None, str]] = {
    "alice": ("Europe/Berlin", "Europe/Berlin"),
    "bob": ("America/New_York", "America/New_York"),
    "carol": ("Asia/Tokyo", "Asia/Tokyo"),
    "dave": (None, "Australia/Sydney"),  # from the schedule he is on
    "erin": (None, "UTC"),  # no zone, no schedule
}
ONCALL: dict[str, Any] = {
    "responders": [{"name": n, "slack_user": f"U0{n.upper()}", **({"timezone": z} if z else {})}
                   for n, (z, _) in RESPONDERS.items()],
    "schedules": [{"name": "apac", "timezone": "Australia/Sydney",
                   "layers": [{"name": "weekly", "start": "2026-01-05", "participants": ["dave", "carol"]}]}],
}
RULES = ["DiskFull", "HighLatency", "PodCrashLooping", "CertExpiry", "QueueBacklog", "NodeDown", "Flappy"]
TEAMS = ["payments", "platform", "search"]
SERVICES = ["api", "db", "queue", "web"]
SEVERITIES = ["critical", "high", "warning", "low"]
#: The channel tags of the callbacks (webhook/api/slack.py, twilio.py; e-mail and PagerDuty as assumed above);
#: "" is the API or the console.
ACK_NOTES = ["via slack", "via sms", "via voice", "via email", "via pagerduty", ""]
PAGE_CHANNELS = ["slack", "sms", "voice", "email", "pagerduty"]


@dataclass
class Action:
    at: datetime
    action: str  # ack, resolve, snooze
    actor: str
    note: str = ""


@dataclass
class Page:
    at: datetime
    channel: str
    responder: str | None
    kind: str = "trigger"
    status: str = "delivered"


@dataclass
class Spec:
    id: int
    rule: str
    severity: str
    service: str | None
    team_label: str | None
    run_team: str | None  # team of the escalation run (wins over the label)
    opened_at: datetime
    flapping: bool = False
    flap_event: bool = False
    auto_resolve: datetime | None = None
    actions: list[Action] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)
    steps: list[tuple[int, str]] = field(default_factory=list)  # (step_index, state)
    runs: list[tuple[str, bool]] = field(default_factory=list)  # (outcome, dry_run)
    approvals: list[tuple[str, str | None]] = field(default_factory=list)  # (decision, decided_by)
    feedback: list[tuple[str, bool, datetime]] = field(default_factory=list)  # in order: latest per person wins

    @property
    def labels(self) -> dict[str, str]:
        out = {"alertname": self.rule, "severity": self.severity}
        if self.service:
            out["service"] = self.service
        if self.team_label:
            out["team"] = self.team_label
        return out


def _minutes(rng: random.Random, lo: float, hi: float) -> timedelta:
    return timedelta(seconds=round(rng.uniform(lo, hi) * 60))


def generate(seed: int = 13, count: int = 260, start: datetime = START, end: datetime = END,
             fixed: bool = True) -> list[Spec]:
    """`count` random incidents in [start, end), plus (with `fixed`) hand-placed ones: pages at the DST switches,
    incidents just outside the period, a person changing their answer."""
    rng = random.Random(seed)
    specs: list[Spec] = []
    span = (end - start).total_seconds()
    people = list(RESPONDERS)
    for i in range(1, count + 1):
        opened = start + timedelta(seconds=rng.randrange(int(span)))
        rule = rng.choice(RULES)
        s = Spec(i, rule, rng.choice(SEVERITIES), rng.choice([*SERVICES, None]),
                 rng.choice([*TEAMS, None]), rng.choice([*TEAMS, None, None]), opened)
        s.flapping = rule == "Flappy" and rng.random() < 0.7
        s.flap_event = not s.flapping and rng.random() < 0.1
        kind = rng.random()
        who = rng.choice(people)
        if kind < 0.25:  # transient: resolves by itself quickly (or just too late)
            s.auto_resolve = opened + _minutes(rng, 0.5, 7)
        elif kind < 0.45:  # never acked, resolves by itself later
            s.auto_resolve = opened + _minutes(rng, 10, 300)
        else:  # a human acks from some channel, maybe notes, maybe resolves with a reason
            t = opened + _minutes(rng, 0.2, 90)
            s.actions.append(Action(t, "ack", who, rng.choice(ACK_NOTES) if rng.random() < 0.8 else "on it, disk"))
            if rng.random() < 0.2:
                t += _minutes(rng, 1, 30)
                s.actions.append(Action(t, "snooze", who, rng.choice(["", "via slack"])))
            if rng.random() < 0.5:
                t += _minutes(rng, 1, 600)
                s.actions.append(Action(t, "resolve", who, rng.choice(["", "via sms", "restarted the pod",
                                                                       "freed space"])))
            else:
                s.auto_resolve = t + _minutes(rng, 1, 120)
        if rng.random() < 0.1 and not s.actions:
            s.actions.append(Action(opened + _minutes(rng, 0.1, 3), "snooze", who, "via slack"))
            s.auto_resolve = None
        for n in range(rng.choice([0, 1, 1, 2, 3])):
            channel = rng.choice(PAGE_CHANNELS)
            responder = None if channel == "pagerduty" or (channel == "slack" and rng.random() < 0.5) \
                else rng.choice(people)
            s.pages.append(Page(opened + _minutes(rng, 0, 20) * (n + 1), channel, responder,
                                "reminder" if n == 2 else "trigger",
                                rng.choice(["delivered"] * 8 + ["failed", "cancelled"])))
        if rng.random() < 0.3:
            s.pages.append(Page(opened + _minutes(rng, 0, 5), "slack", None, "update"))  # not a page
        reached = rng.choice([0, 0, 1, 2])
        s.steps = [(k, "fired") for k in range(reached + 1)] + ([(reached + 1, "cancelled")] if reached < 2 else [])
        if rng.random() < 0.15:
            s.runs.append((rng.choice(["verified", "completed", "failed", "refused"]), rng.random() < 0.2))
            if rng.random() < 0.5:
                s.approvals.append((rng.choice(["approved", "rejected"]), rng.choice(people)))
        if rng.random() < 0.2:
            for _ in range(rng.choice([1, 2, 3])):
                s.feedback.append((rng.choice(people), rng.random() < 0.5, opened + _minutes(rng, 60, 600)))
        specs.append(s)
    if fixed:
        specs += _fixed(count + 1)
    return specs


def _fixed(first: int) -> list[Spec]:
    """Hand-placed cases the test asserts by name (docs/report.md examples)."""
    berlin_switch = datetime(2026, 10, 25, 5, 30, tzinfo=UTC)  # 06:30 CET (sleep); 07:30 the day before (CEST)
    ny_switch = datetime(2026, 11, 1, 11, 30, tzinfo=UTC)  # 06:30 EST (sleep); 07:30 EDT the day before
    out = [
        Spec(first, "DstCheck", "low", "api", "payments", None, berlin_switch - timedelta(minutes=1),
             pages=[Page(berlin_switch, "sms", "alice"), Page(berlin_switch - timedelta(days=1), "sms", "alice"),
                    Page(ny_switch, "sms", "bob"), Page(ny_switch - timedelta(days=1), "sms", "bob")],
             auto_resolve=berlin_switch + timedelta(hours=1)),
        # outside the period: opened a second before the start and exactly at the end
        Spec(first + 1, "Outside", "critical", "api", None, None, START - timedelta(seconds=1),
             pages=[Page(START + timedelta(minutes=1), "sms", "alice")]),
        Spec(first + 2, "Outside", "critical", "api", None, None, END,
             pages=[Page(END + timedelta(minutes=1), "sms", "alice")]),
        # a remediated incident without a page: a page avoided
        Spec(first + 3, "DiskFull", "high", "db", None, "platform", START + timedelta(days=3),
             runs=[("verified", False)], auto_resolve=START + timedelta(days=3, minutes=20)),
        # a person changes their mind: the latest answer counts
        Spec(first + 4, "QueueBacklog", "warning", "queue", None, "search", START + timedelta(days=4),
             actions=[Action(START + timedelta(days=4, minutes=3), "ack", "carol", "via pagerduty")],
             feedback=[("carol", True, START + timedelta(days=4, hours=1)),
                       ("carol", False, START + timedelta(days=4, hours=2))],
             pages=[Page(START + timedelta(days=4, minutes=1), "pagerduty", None)],
             auto_resolve=START + timedelta(days=4, minutes=40)),
        # exactly at the transient limit (5 min, counts) and just past it
        Spec(first + 5, "HighLatency", "warning", "web", None, None, START + timedelta(days=5),
             auto_resolve=START + timedelta(days=5, minutes=5)),
        Spec(first + 6, "HighLatency", "warning", "web", None, None, START + timedelta(days=6),
             auto_resolve=START + timedelta(days=6, minutes=5, seconds=1)),
    ]
    return out


def write(conn: Connection, specs: list[Spec]) -> None:
    """Write the specs (see the module docstring for which parts go through the real code)."""
    for s in specs:
        conn.execute(insert(incidents).values(
            id=s.id, incident_key=f"k{s.id}", key_labels={"alertname": s.rule}, state="triggered",
            severity=s.severity, title=s.rule, labels=s.labels, annotations={}, firing_alerts=1, alert_count=1,
            flapping=s.flapping, changes=[], opened_at=s.opened_at, updated_at=s.opened_at, truncated_alerts=0))
        if s.flap_event:
            conn.execute(insert(incident_events).values(incident_id=s.id, at=s.opened_at + timedelta(minutes=1),
                                                        kind="flapping", actor="alertmanager", detail={}))
        run_id = None
        if s.run_team is not None or s.steps:
            run_id = conn.execute(insert(escalation_runs).values(
                incident_id=s.id, policy="default", route="root", snapshot={}, severity=s.severity,
                team=s.run_team or "", state="active", opened_at=s.opened_at, updated_at=s.opened_at)
                .returning(escalation_runs.c.id)).scalar_one()
            for seq, (k, state) in enumerate(s.steps):
                conn.execute(insert(escalation_steps).values(
                    run_id=run_id, incident_id=s.id, seq=seq, step_index=k, cycle=0,
                    due_at=s.opened_at + timedelta(minutes=5 * k), state=state,
                    fired_at=s.opened_at + timedelta(minutes=5 * k) if state == "fired" else None))
        for n, p in enumerate(s.pages):
            conn.execute(insert(deliveries).values(
                idem_key=f"{s.id}:{n}", incident_id=s.id, kind=p.kind, channel=p.channel,
                address=p.responder or "#ops", responder=p.responder, locale="en", fallback=[], severity=s.severity,
                status=p.status, attempts=1, due_at=p.at, next_attempt_at=p.at, created_at=p.at,
                finished_at=p.at))
        for n, (outcome, dry) in enumerate(s.runs):
            rid = conn.execute(insert(remediation_runs).values(
                idempotency_key=f"{s.id}:{n}", runbook_id="rb", incident_id=str(s.id), triggered_by="tocsin",
                labels=s.labels, annotations={}, dry_run=dry, status="finished", outcome=outcome, reason="",
                target={}, next_step=0, created_at=s.opened_at, updated_at=s.opened_at)
                .returning(remediation_runs.c.id)).scalar_one()
            for k, (decision, by) in enumerate(s.approvals):
                conn.execute(insert(remediation_approvals).values(
                    run_id=rid, step_index=k, message="ok?", requested_at=s.opened_at,
                    expires_at=s.opened_at + timedelta(hours=1), decision=decision, decided_by=by,
                    decided_at=s.opened_at + timedelta(minutes=2)))
        for a in sorted(s.actions, key=lambda a: a.at):
            until = a.at + timedelta(hours=1) if a.action == "snooze" else None
            actions.act(conn, s.id, a.action, a.actor, a.at, until, a.note)
        if s.auto_resolve is not None and not any(a.action == "resolve" for a in s.actions):
            conn.execute(update(incidents).where(incidents.c.id == s.id).values(
                state="resolved", resolved_at=s.auto_resolve, resolved_by="alertmanager", updated_at=s.auto_resolve,
                snoozed_until=None))
            conn.execute(insert(incident_events).values(incident_id=s.id, at=s.auto_resolve, kind="resolved",
                                                        actor="alertmanager", detail={}))
        for person, actionable, at in s.feedback:
            set_feedback(conn, s.id, person, actionable, "api", at)
