"""Escalation: policy snapshot when an incident opens, due steps fired from the database, ack/resolve stop it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from webhook.config import TocsinConfig
from webhook.config.escalation import Policy
from webhook.escalation import repo
from webhook.escalation.contacts import Contact, resolve
from webhook.escalation.policy import defer, idem, next_digest, next_position, offset, snapshot
from webhook.escalation.routing import route
from webhook.incidents.events import BatchResult
from webhook.incidents.queries import incident_rows
from webhook.incidents.timeline import add_events
from webhook.notifiers.outbox_repo import delivery_row, insert_deliveries
from webhook.oncall.changes import effective as effective_oncall
from webhook.store.db import Connection
from webhook.windows import repo as windows_repo
from webhook.windows.model import hold as window_hold

#: Which channels learn about a state change of an incident they were paged about (voice never: no calls for news).
STATE_CHANNELS = {
    "ack": ("slack", "pagerduty", "sms", "email"),
    "resolve": ("slack", "pagerduty", "sms", "email"),
    "update": ("slack", "pagerduty"),
    "reminder": ("slack", "sms", "email"),
    #: Runbook progress goes to chat only (a thread reply per line); never SMS or calls.
    "remediation_progress": ("slack",),
}


#: (conn, incident id, now) -> end of a remediation hold on the incident's escalation, None when not held.
HeldUntil = Callable[[Connection, int, datetime], datetime | None]
#: (conn, incident id, step number counted from 1, now): the escalation fired this step (remediation trigger).
StepReached = Callable[[Connection, int, int, datetime], object]


@dataclass(frozen=True, slots=True)
class Holds:
    """Remediation's say over the step timer (docs/runbooks.md, "Service integration"): the hold of a running
    runbook, and the trigger of runs at an escalation step. Both None when remediation is off."""

    held_until: HeldUntil | None = None
    step_reached: StepReached | None = None


NO_HOLDS = Holds()


@dataclass(frozen=True, slots=True)
class Fired:
    severity: str
    lag: float


class Escalation:
    """The IncidentHooks of escalation plus the step timer; all of it rows in the caller's transaction."""

    def __init__(self, cfg: TocsinConfig, worker_id: str, *, holds: Holds = NO_HOLDS,
                 on_work: Callable[[], None] | None = None) -> None:
        self.cfg = cfg
        self.worker_id = worker_id
        self.holds = holds
        #: Called (from the database thread) when a hook wrote work that is due now.
        self.on_work = on_work

    def kick(self) -> None:
        """Tell the worker that work is due now (a hook wrote steps or deliveries, a run event needs sending)."""
        if self.on_work is not None:
            self.on_work()

    # --- hooks ----------------------------------------------------------------------------------------
    def on_batch(self, conn: Connection, result: BatchResult, now: datetime) -> None:
        opened_work = False
        if result.opened:
            opened_work = self._open(conn, [i for i, _ in result.opened], now, result.opened_rows)
        for iid, _sev, _secs in result.resolved:
            self._settle(conn, iid, "resolve", now)
        for iid in sorted(set(result.reopened)):
            self._reopen(conn, iid, now)
        if self.cfg.escalation.renotify_on_new_alert and result.joined:
            self._renotify(conn, sorted(set(result.joined) - set(result.reopened)), now)
        if opened_work or result.resolved or result.joined or result.reopened:
            self.kick()

    def on_action(self, conn: Connection, incident_id: int, action: str, actor: str, now: datetime,
                  detail: dict[str, Any]) -> None:
        if action in ("ack", "resolve"):
            self._settle(conn, incident_id, action, now)
        elif action == "snooze":
            repo.pause(conn, incident_id, now)
            repo.cancel_paging(conn, incident_id, now)
            self.state_updates(conn, incident_id, "update", now, f"snoozed by {actor}")
        elif action == "unsnooze":
            if not repo.resume(conn, incident_id, now):
                repo.restart(conn, incident_id, now)
            self.state_updates(conn, incident_id, "update", now, "snooze ended")
        elif action == "reopen":  # a runbook that needs a human re-opened an incident resolved while it worked
            self._reopen(conn, incident_id, now, reason="remediation")
        elif action in ("page", "window_ended"):  # a human is needed now (remediation), or a maintenance window
            repo.release_held(conn, incident_id, now)  # was ended early: held steps are due at once
        self.kick()

    def _settle(self, conn: Connection, incident_id: int, kind: str, now: datetime) -> None:
        stopped = repo.stop(conn, incident_id, now)
        cancelled = repo.cancel_paging(conn, incident_id, now)
        if stopped or cancelled:
            add_events(conn, [(incident_id, now, "escalation_stopped",
                                    {"reason": kind, "steps_cancelled": stopped, "pages_cancelled": cancelled})])
        self.state_updates(conn, incident_id, kind, now)

    def state_updates(self, conn: Connection, incident_id: int, kind: str, now: datetime,
                      note: str | None = None, seq: object = None) -> int:
        """Tell every channel this incident reached about its new state (Slack in place, PagerDuty, SMS...)."""
        rows = []
        for r in repo.reached(conn, incident_id):
            if r["channel"] not in STATE_CHANNELS[kind]:
                continue
            rows.append(delivery_row(idem(incident_id, kind, seq or now.isoformat(), r["channel"], r["address"]),
                                  incident_id, None, None, kind, r["channel"], r["address"], r["responder"],
                                  r["locale"], "", now, note))
        insert_deliveries(conn, rows)
        return len(rows)

    def _reopen(self, conn: Connection, incident_id: int, now: datetime, reason: str = "flap") -> None:
        """A resolved incident was opened again (it flapped, or a runbook needs a human): its escalation starts
        over from step 1 of its snapshot."""
        restarted = repo.restart(conn, incident_id, now)
        if restarted:
            add_events(conn, [(incident_id, now, "escalation_restarted", {"reason": reason, "runs": restarted})])

    def _renotify(self, conn: Connection, ids: list[int], now: datetime) -> None:
        for iid, inc in incident_rows(conn, ids).items():
            if inc["state"] == "acknowledged":
                note = f"new alert joined ({inc['alert_count']} alerts)"
                self.state_updates(conn, iid, "reminder", now, note, seq=f"n{inc['alert_count']}")

    # --- opening ----------------------------------------------------------------------------------------
    def _open(self, conn: Connection, ids: list[int], now: datetime, rows: dict[int, dict[str, Any]]) -> bool:
        """Open escalation runs; `rows` holds each new incident's labels and severity from the ingest batch.

        Returns whether any step or delivery was written (work for the worker; else there is nothing to wake).
        """
        esc = self.cfg.escalation
        plans: list[tuple[int, Policy, str, str]] = []
        events: list[tuple[int, datetime, str, dict[str, Any]]] = []
        for iid in ids:
            labels = rows[iid]["labels"]
            matches = route(esc, labels, now)
            if not matches and esc.policies:  # no policies at all: escalation is not set up, nothing to say
                events.append((iid, now, "escalation", {"policy": None, "reason": "no route matched"}))
            team = str(labels.get(esc.noise.team_label, ""))
            plans += [(iid, esc.policy(m.policy), m.path, team) for m in matches]
        storms = self._storms(conn, plans, now)
        run_rows = [{"incident_id": iid, "policy": p.name, "route": path[:500], "snapshot": snapshot(p),
                     "severity": rows[iid]["severity"], "team": team[:128],
                     "group_key": storms.get(iid) if p.steps else self._digest_key(p, now),
                     "state": "active", "opened_at": now, "updated_at": now}
                    for iid, p, path, team in plans]
        by_key = {(iid, p.name): p for iid, p, _, _ in plans}
        steps, pages = [], []
        for run_id, iid, name in repo.insert_runs(conn, run_rows):
            policy = by_key[(iid, name)]
            detail: dict[str, Any] = {"policy": name, "storm": storms.get(iid)}
            if policy.steps:
                due = defer(policy, now + offset(policy, 0, 0))
                steps.append({"run_id": run_id, "incident_id": iid, "seq": 0, "step_index": 0, "cycle": 0,
                              "rep": 0, "due_at": due, "state": "pending"})
                detail["first_step_due"] = due.isoformat()
            if policy.digest is not None:
                pages += self._digest_pages(conn, policy, iid, rows[iid]["severity"], now)
                detail["digest_at"] = next_digest(policy.digest, now).isoformat()
            events.append((iid, now, "escalation", detail))
        repo.insert_steps(conn, steps)
        insert_deliveries(conn, pages)
        add_events(conn, events)
        return bool(steps or pages)

    def _storms(self, conn: Connection, plans: list[tuple[int, Policy, str, str]], now: datetime) -> dict[int, str]:
        """Incidents beyond `storm_threshold` per team and minute share one storm key (one summary page)."""
        limit = self.cfg.escalation.noise.storm_threshold
        paged = {(iid, team) for iid, p, _, team in plans if p.steps}
        if not limit or not paged:
            return {}
        counts = repo.team_counts_since(conn, {t for _, t in paged}, now - timedelta(minutes=1))
        minute = now.replace(second=0, microsecond=0).isoformat()
        out = {}
        for iid, team in sorted(paged):
            counts[team] = counts.get(team, 0) + 1
            if counts[team] > limit:
                out[iid] = f"storm:{team}:{minute}"
        return out

    def _digest_key(self, policy: Policy, now: datetime) -> str | None:
        if policy.digest is None:
            return None
        return f"digest:{policy.name}:{next_digest(policy.digest, now).isoformat()}"

    def _digest_pages(self, conn: Connection, policy: Policy, iid: int, severity: str,
                      now: datetime) -> list[dict[str, Any]]:
        assert policy.digest is not None
        key = self._digest_key(policy, now)
        due = next_digest(policy.digest, now)
        oncall = effective_oncall(conn, self.cfg.oncall, now, now)  # + overrides and swaps made at run time
        contacts = resolve(policy.digest.targets, oncall, self.cfg.channels, now)
        return [delivery_row(idem(key, c.channel.value, c.address), iid, key, None, "digest", c.channel.value,
                          c.address, c.responder, c.locale, severity, due) for c in contacts]

    # --- the timer --------------------------------------------------------------------------------------
    def fire_due(self, conn: Connection, now: datetime, limit: int = 200) -> list[Fired]:
        """Fire due steps once each: deliveries written, step marked, next step scheduled, one transaction."""
        due = repo.claim_due_steps(conn, now, limit)
        if not due:
            return []
        runs = repo.runs_by_id(conn, {s["run_id"] for s in due})
        incs = incident_rows(conn, {s["incident_id"] for s in due})
        fired, steps, pages, events = [], [], [], []
        planned: set[str] = set()  # idempotency keys of the deliveries written by this call (storm summaries)
        windows = windows_repo.current(conn, now)  # maintenance windows (docs/windows.md), read once per call
        oncall = effective_oncall(conn, self.cfg.oncall, now, now)  # + stored overrides and swaps, once per call
        for s in due:
            run, inc = runs[s["run_id"]], incs[s["incident_id"]]
            if inc["state"] != "triggered" or run["state"] != "active":
                repo.mark_step(conn, s["id"], "cancelled", now)
                continue
            # a maintenance window someone set: no page now, the step fires when it ends (checked before the
            # remediation hold: a run's hold may end first, and the step must then wait for the window anyway)
            covered = window_hold(windows, inc["labels"] or {}, now) if windows else None
            if covered is not None:
                w, end = covered.window, covered.until
                repo.hold_step(conn, s["id"], end)
                events.append((inc["id"], now, "window_held", {
                    "policy": run["policy"], "step": s["step_index"] + 1, "until": end.isoformat(), "window": w.id,
                    "note": f"held by maintenance window {w.describe()} until {end.isoformat()}"}))
                continue
            held_until = self.holds.held_until
            until = held_until(conn, inc["id"], now) if held_until is not None else None
            if until is not None:
                repo.hold_step(conn, s["id"], until)
                events.append((inc["id"], now, "escalation_held", {
                    "policy": run["policy"], "step": s["step_index"] + 1, "until": until.isoformat()}))
                continue
            policy = Policy.model_validate(run["snapshot"])
            contacts = resolve(policy.steps[s["step_index"]].targets, oncall, self.cfg.channels, now)
            rows, skipped = self._pages(conn, s, run, inc, contacts, now, planned)
            pages += rows
            repo.mark_step(conn, s["id"], "fired", now, self.worker_id)
            nxt = next_position(policy, s["step_index"], s["cycle"], s["rep"])
            if nxt is not None:
                delta = offset(policy, *nxt) - offset(policy, s["step_index"], s["cycle"], s["rep"])
                steps.append({"run_id": run["id"], "incident_id": inc["id"], "seq": s["seq"] + 1,
                              "step_index": nxt[0], "cycle": nxt[1], "rep": nxt[2],
                              "due_at": defer(policy, s["due_at"] + delta), "state": "pending"})
            events.append((inc["id"], now, "escalation_step", {
                "policy": policy.name, "step": s["step_index"] + 1, "cycle": s["cycle"], "repeat": s["rep"],
                "contacts": [f"{r['channel']}:{r['responder'] or r['address']}" for r in rows], "skipped": skipped}))
            if skipped:
                events.append((inc["id"], now, "rate_limited", {
                    "policy": policy.name, "step": s["step_index"] + 1, "skipped": skipped}))
            fired.append(Fired(str(inc["severity"]), (now - s["due_at"]).total_seconds()))
            if self.holds.step_reached is not None and s["rep"] == 0:
                self.holds.step_reached(conn, inc["id"], s["step_index"] + 1, now)
        insert_deliveries(conn, pages)
        repo.insert_steps(conn, steps)
        add_events(conn, events)
        return fired

    def _pages(self, conn: Connection, step: dict[str, Any], run: dict[str, Any], inc: dict[str, Any],
               contacts: list[Contact], now: datetime, planned: set[str]) -> tuple[list[dict[str, Any]], list[str]]:
        """The deliveries of one fired step, and the SMS/calls a per-person limit held back ("sms:alice (...)").

        A storm writes one summary per step and target for all its incidents: only the member that writes
        it counts against the limit, and a critical storm's summary is never held back (it stands for all of
        them). Neither is a person's first SMS or call about a critical incident. A limit that holds a page
        back is said in the step's Slack message (or the incident's Slack messages so far) and the timeline.
        """
        storm = run["group_key"] if str(run["group_key"] or "").startswith("storm:") else None
        sent: list[tuple[Contact, str]] = []
        skipped: list[str] = []
        for c in contacts:
            ch = c.channel.value
            key = idem(storm or inc["id"], run["policy"], step["seq"], ch, c.address)
            if storm and (key in planned or repo.delivery_exists(conn, key)):
                continue  # this step's summary to this target is written: one message for the whole storm
            refused = self._rate_limited(conn, c, inc, storm is not None, now)
            if refused:
                skipped.append(refused)
                continue
            planned.add(key)
            sent.append((c, key))
        note = limit_note(skipped)
        rows = [self._page_row(key, c, step, inc, storm, now, note if c.channel.value == "slack" else None)
                for c, key in sent]
        if note and not storm:
            rows += self._limit_notes(conn, inc, step, {r["address"] for r in rows if r["channel"] == "slack"}, note,
                                      now)
        return rows, skipped

    def _rate_limited(self, conn: Connection, c: Contact, inc: dict[str, Any], storm: bool,
                      now: datetime) -> str | None:
        """Count an SMS or call against its person's hourly limit; the reason when the limit holds it back."""
        ch = c.channel.value
        if not c.responder or ch not in ("sms", "voice"):
            return None
        noise = self.cfg.escalation.noise
        limit = noise.sms_per_hour if ch == "sms" else noise.voice_per_hour
        hour = now.replace(minute=0, second=0, microsecond=0)
        critical = inc["severity"] == "critical"
        exempt = critical and (storm or not repo.has_paged(conn, inc["id"], ch, c.address))
        if repo.take_rate(conn, c.responder, ch, hour, limit, exempt=exempt):
            return None
        return f"{ch}:{c.responder} (limit {limit}/h)"

    def _page_row(self, key: str, c: Contact, step: dict[str, Any], inc: dict[str, Any], storm: str | None,
                  now: datetime, note: str | None) -> dict[str, Any]:
        """A page (or, for a storm, the summary standing for it) to one contact; `note` goes to its Slack thread."""
        ch, due = c.channel.value, now + c.delay
        if storm:
            return delivery_row(key, inc["id"], storm, step["seq"], "storm_summary", ch, c.address, c.responder,
                                c.locale, inc["severity"], due + self.cfg.escalation.noise.storm_hold, note)
        return delivery_row(key, inc["id"], None, step["seq"], "trigger", ch, c.address, c.responder, c.locale,
                            inc["severity"], due, note, fallback=c.fallback)

    def _limit_notes(self, conn: Connection, inc: dict[str, Any], step: dict[str, Any], covered: set[str],
                     note: str, now: datetime) -> list[dict[str, Any]]:
        """The limit note for the incident's Slack messages that this step does not post to (a thread reply)."""
        return [delivery_row(idem(inc["id"], "limited", step["seq"], "slack", r["address"]), inc["id"], None, None,
                             "update", "slack", r["address"], r["responder"], r["locale"], "", now, note)
                for r in repo.reached(conn, inc["id"]) if r["channel"] == "slack" and r["address"] not in covered]


def limit_note(skipped: list[str]) -> str | None:
    """What Slack says when per-person limits held pages back: "Not sent, hourly limit reached: sms:alice (...)"."""
    if not skipped:
        return None
    return "Not sent, hourly limit reached: " + ", ".join(skipped)
