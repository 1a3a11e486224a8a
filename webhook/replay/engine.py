"""The replay driver: recorded alert deliveries and human actions, in time order, through a candidate config.

Everything runs against a scratch SQLite database in one transaction, with the engine's own code: the ingest
batch (dedup, flapping), escalation's hooks and step timer, the outbox's claim and completion (with every send
taken as delivered at once), the snooze and quiet-period timers. The clock is the recorded time of each event;
between events every timer fires at its exact due time. No notifier is built, so nothing can be sent: the
"notification log" is the scratch database's delivered outbox rows.

Assumptions (docs/replay.md):
- a human acts at the recorded time, on the replayed incident of the same incident key opened at the same time;
  an action the replayed incident's state does not allow (already resolved, never paged) is skipped and counted;
- every delivery succeeds on its first attempt (recorded vendor failures and retries are not replayed);
- remediation is not replayed: incidents that had runbook runs are listed, their pages may differ;
- maintenance windows are the recorded ones (they are what people set, like their acks).
"""

from __future__ import annotations

import heapq
import itertools
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from webhook.config import TocsinConfig
from webhook.escalation import repo as escalation_repo
from webhook.escalation.service import Escalation
from webhook.incidents.actions import act, resolve_quiet, wake_snoozed
from webhook.incidents.events import Hooks
from webhook.incidents.model import TransitionError
from webhook.ingest.batch import ingest_batch
from webhook.ingest.prepare import PreparedPayload, prepared_alert
from webhook.notifiers import outbox_repo
from webhook.replay import queries
from webhook.replay.queries import HumanAction, JournalRow, RecordedIncident
from webhook.store.db import Connection, Database
from webhook.store.migrate import upgrade

WORKER = "replay"
#: Timer rounds at one instant before the replay gives up (a timer that keeps itself due would loop forever).
MAX_ROUNDS_PER_INSTANT = 1000

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class Page:
    """One delivery that went out, identified independently of database ids."""

    incident: tuple[str, datetime] | None  # (incident key, opened at)
    kind: str
    channel: str
    address: str
    responder: str | None
    step: int | None
    due_at: datetime
    severity: str
    alertname: str

    @property
    def identity(self) -> tuple[object, ...]:
        return (self.incident, self.kind, self.channel, self.address, self.responder, self.step)


@dataclass
class Replayed:
    pages: list[Page]
    incidents: int
    journal_rows: int
    batches: int
    actions_applied: int
    actions_skipped: Counter[str] = field(default_factory=Counter)
    warm_start: datetime | None = None
    #: the incidents of the replay (their labels: which runbooks would run)
    opened: list[RecordedIncident] = field(default_factory=list)


def _batches(rows: Iterable[JournalRow]) -> Iterator[tuple[datetime, list[JournalRow]]]:
    """Journal rows of one ingest transaction share its time: one replayed batch each."""
    for at, group in itertools.groupby(rows, key=lambda r: r.at):
        yield at, list(group)


class Replay:
    """One replay of [start, end) of `source` through `cfg`. `scratch_dir`: where the scratch database lives."""

    def __init__(self, cfg: TocsinConfig, *, scratch_dir: Path | None = None, progress: Progress | None = None,
                 ) -> None:
        self.cfg = cfg
        self.scratch_dir = scratch_dir
        self.progress = progress
        self.escalation = Escalation(cfg, WORKER)
        self.hooks = Hooks([self.escalation])

    def run(self, source: Database, start: datetime, end: datetime) -> Replayed:
        """Replay [start, end); the replay itself begins earlier (`warm_start`) so that incidents open at `start`
        and recent flapping are there as they were, and pages are compared for incidents opened in the period."""
        warm = source.run_read(queries.warm_start, start, self.cfg.incidents.flap.window)
        total = source.run_read(queries.journal_count, warm, end)
        actions = source.run_read(queries.human_actions, warm, end)
        recorded = source.run_read(queries.incidents_opened, warm, end)
        windows = source.run_read(queries.windows)
        with tempfile.TemporaryDirectory(dir=self.scratch_dir, prefix="tocsin-replay-") as tmp:
            scratch = Database.from_url(f"sqlite:///{tmp}/replay.db", sqlite_synchronous="OFF")
            try:
                upgrade(scratch.engine)
                scratch.run_write(queries.copy_windows, windows)
                out = scratch.run_write(self._replay, _stream(source, warm, end), actions, recorded, end, total)
            finally:
                scratch.close()
                scratch.engine.dispose()
        out.pages = [p for p in out.pages if p.incident is not None and start <= p.incident[1] < end]
        out.opened = [i for i in out.opened if start <= i.opened_at < end]
        out.warm_start = warm
        return out

    def _replay(self, conn: Connection, rows: Iterator[JournalRow], actions: list[HumanAction],
                recorded: dict[int, RecordedIncident], end: datetime, total: int) -> Replayed:
        out = Replayed([], 0, 0, 0, 0)
        pending = [(a.at, i, a) for i, a in enumerate(actions)]
        heapq.heapify(pending)
        done = 0
        for at, group in _batches(rows):
            self._until(conn, at, pending, recorded, out)
            payload = PreparedPayload("tocsin-replay", "replay", "firing", 0, [
                prepared_alert(r.fingerprint, r.starts_at, r.status, r.labels, r.annotations, r.ends_at,
                               r.generator_url, self.cfg) for r in group])
            ingest_batch(conn, [payload], at, self.cfg.incidents.flap, self.hooks)
            out.batches += 1
            out.journal_rows += len(group)
            done += len(group)
            if self.progress is not None:
                self.progress(done, total)
        self._until(conn, end, pending, recorded, out)
        opened = queries.incidents_opened(conn, datetime.min.replace(tzinfo=end.tzinfo), end)
        out.pages = pages_of(queries.sent(conn), opened)
        out.incidents = len(opened)
        out.opened = list(opened.values())
        return out

    def _until(self, conn: Connection, t: datetime, pending: list[tuple[datetime, int, HumanAction]],
               recorded: dict[int, RecordedIncident], out: Replayed) -> None:
        """Everything due before `t` (timers and human actions) in time order; timers due exactly at `t` too."""
        rounds, last = 0, None
        while True:
            timers = queries.next_timers(conn)
            timer = timers.first()
            action_at = pending[0][0] if pending else None
            if action_at is not None and action_at < t and (timer is None or action_at < timer):
                _, _, a = heapq.heappop(pending)
                self._act(conn, a, recorded, out)
                continue
            if timer is None or timer > t:
                return
            rounds = rounds + 1 if timer == last else 0
            if rounds > MAX_ROUNDS_PER_INSTANT:
                raise RuntimeError(f"timers at {timer.isoformat()} keep firing; replay stopped")
            last = timer
            self._fire(conn, timers, timer)

    def _fire(self, conn: Connection, timers: queries.Timers, now: datetime) -> None:
        """The timers due at `now`, each kind as the service's tick and workers run it."""
        if timers.snooze == now:
            wake_snoozed(conn, now, self.hooks)
        if timers.quiet == now:
            resolve_quiet(conn, now, self.hooks)
        if timers.step == now:
            self.escalation.fire_due(conn, now, 10_000)
        if timers.delivery == now or timers.step == now:  # a fired step's pages are due at once, mostly
            outbox_repo.settle_due(conn, now, escalation_repo.group_members)

    def _act(self, conn: Connection, a: HumanAction, recorded: dict[int, RecordedIncident], out: Replayed) -> None:
        inc = recorded.get(a.incident_id)
        if inc is None:
            out.actions_skipped["incident opened before the period"] += 1
            return
        target = queries.incident_at(conn, inc.key, inc.opened_at)
        if target is None:
            out.actions_skipped["no such incident in the replay"] += 1
            return
        try:
            act(conn, target, a.action, a.actor, a.at, until=a.until, note=a.note, hooks=self.hooks)
        except TransitionError:
            out.actions_skipped[f"{a.action} not possible in the replayed state"] += 1
            return
        out.actions_applied += 1


def _stream(source: Database, start: datetime, end: datetime) -> Iterator[JournalRow]:
    """The journal of the period in chunks, each read in its own short transaction."""
    after = 0
    while True:
        chunk = source.run_read(queries.journal_chunk, start, end, after)
        yield from chunk
        if len(chunk) < queries.CHUNK:
            return
        after = chunk[-1].id


def pages_of(rows: list[dict[str, object]], opened: dict[int, RecordedIncident]) -> list[Page]:
    """Delivered outbox rows as Pages (incident by key and opening time); remediation's own messages left out."""
    out = []
    for r in rows:
        if str(r["kind"]).startswith("remediation_"):
            continue
        inc = opened.get(r["incident_id"]) if isinstance(r["incident_id"], int) else None
        step = r["step_seq"]
        due = r["due_at"]
        assert isinstance(due, datetime)
        out.append(Page((inc.key, inc.opened_at) if inc is not None else None, str(r["kind"]), str(r["channel"]),
                        str(r["address"]), r["responder"] if isinstance(r["responder"], str) else None,
                        step if isinstance(step, int) else None, due, str(r["severity"]),
                        str(inc.labels.get("alertname", "")) if inc is not None else ""))
    return out


def recorded_pages(source: Database, start: datetime, end: datetime) -> list[Page]:
    """What really went out for the incidents opened in [start, end), due before its end (the replay stops there)."""
    opened = source.run_read(queries.incidents_opened, start, end)
    return [p for p in pages_of(source.run_read(queries.sent, set(opened)), opened) if p.due_at < end]
