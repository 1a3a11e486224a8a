"""Store a batch of webhook payloads and dedup their alerts into incidents, in one transaction."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Connection

from webhook.config import FlapConfig
from webhook.incidents.events import BatchHook, BatchResult
from webhook.incidents.model import (
    Decision,
    Episode,
    IncidentSnap,
    Reason,
    State,
    decide_firing,
    decide_resolved,
    title_of,
)
from webhook.ingest.prepare import PreparedAlert, PreparedPayload
from webhook.store.db import begin_write
from webhook.store.raw import Raw, json_text


def annotations_text(stored: Any) -> str:
    """A stored annotations column as JSON text: SQLite keeps the text, PostgreSQL's jsonb arrives parsed."""
    return stored if isinstance(stored, str) else json_text(stored, canonical=True)


@dataclass(slots=True)
class _Inc:
    snap: IncidentSnap
    key: str
    opened_at: datetime
    first: PreparedAlert | None = None  # set for incidents created in this batch (inserted at flush)
    new_alerts: int = 0
    truncated: int = 0
    dirty: bool = False
    resolved_now: bool = False
    #: the "opened" timeline entry of an incident opened in this batch; alerts joining it in the same batch
    #: are counted there (`alerts`) instead of getting an "alert_joined" entry each
    opened: dict[str, Any] | None = None


@dataclass(slots=True)
class _Row:
    """An alert episode as this batch knows it (id None: inserted at flush)."""

    id: int | None
    episode: Episode
    alert: PreparedAlert | None = None
    receive: int = 0
    changed: bool = False


class Statement(NamedTuple):
    """One write of the batch: `sql` per row, and how to run it over all rows at once (Raw.many)."""

    sql: str
    rows: list[tuple[Any, ...]]
    #: PostgreSQL types of a row's values, in order
    types: tuple[str, ...]
    #: the same over all rows: `WITH v(...) AS ({values}) UPDATE ... FROM v`
    cte: str | None = None


_INCIDENT_TYPES = ("bigint", "text", "jsonb", "text", "text", "text", "jsonb", "jsonb", "int", "int", "boolean",
                   "jsonb", "timestamptz", "timestamptz", "timestamptz", "timestamptz", "text", "int")
_ALERT_TYPES = ("text", "timestamptz", "text", "jsonb", "jsonb", "timestamptz", "text", "bigint", "timestamptz",
                "timestamptz", "int")

_JOURNAL_TYPES = ("timestamptz", "text", "timestamptz", "text", "timestamptz", "text", "bigint", "jsonb")

_EVENT_KIND = {Reason.JOIN: "alert_joined", Reason.RESOLVE: "alert_resolved", Reason.FLAP: "flapping",
               Reason.FLAP_HOLD: "resolve_pending", Reason.RESOLVE_INCIDENT: "resolved"}


#: PostgreSQL: incident keys hash onto this many advisory lock stripes (in their own lock namespace), so a
#: batch takes at most this many locks however many keys a storm carries (the shared lock table holds
#: max_locks_per_transaction x max_connections, 6,400 by default).
LOCK_STRIPES = 256
LOCK_NAMESPACE = 74631002


def stripe_of(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "big") % LOCK_STRIPES


def _lock_keys(raw: Raw, keys: list[str]) -> None:
    """Serialise ingest of the same incident keys: SQLite's write lock, PostgreSQL striped advisory locks.

    The stripes are locked in ascending order in one statement (no deadlock between replicas, one round trip);
    a stripe held by a stalled peer fails this batch after lock_timeout instead of blocking it forever.
    """
    if raw.sqlite:
        begin_write(raw.conn)  # Database.write began it already; direct callers (tests, tools) may not have
        return
    stripes = sorted({stripe_of(k) for k in keys})
    raw.execute("SELECT count(pg_advisory_xact_lock(?, s)) FROM unnest(?::int[]) WITH ORDINALITY AS t(s, i)",
                (LOCK_NAMESPACE, stripes))


class IngestBatch:
    """State of one ingest transaction: rows read once, decisions applied in order, rows written once."""

    def __init__(self, conn: Connection, now: datetime, flap: FlapConfig) -> None:
        self.raw, self.now, self.flap = Raw(conn), now, flap
        self.result = BatchResult()
        self.rows: dict[tuple[str, datetime], _Row] = {}
        self.incs: dict[int, _Inc] = {}
        self.open_by_key: dict[str, int] = {}
        self.recent_by_key: dict[str, int] = {}
        self.events: list[tuple[int, str, dict[str, Any]]] = []
        self.receipts: list[tuple[Any, ...]] = []
        #: (alert, reason, incident id) of every decision but a repeat, in arrival order (the alert journal)
        self.journal: list[tuple[PreparedAlert, str, int | None]] = []
        self._top = 0
        self._ids: list[int] = []
        self._want = 0
        self._joined: set[int] = set()

    def load(self, items: list[PreparedAlert]) -> None:
        r = self.raw
        keys = sorted({a.key for a in items})
        pairs = {(a.fingerprint, a.starts_at) for a in items}
        # only episodes this batch can meet: a long-flapping alert's older episodes are not read (review 18)
        since = [r.dt(min(a.starts_at for a in items))] if items else []
        alerts_sql = ("SELECT id, fingerprint, starts_at, status, annotations, ends_at, incident_id"
                      " FROM alerts WHERE fingerprint IN ({in_}) AND starts_at >= ?")
        cols = "id, incident_key, state, severity, firing_alerts, flapping, changes, resolve_after, opened_at"
        # PostgreSQL: the incidents this batch may write back are locked, so a human's ack or a timer that
        # commits meanwhile waits instead of being overwritten (review finding 1); in id order, like the timers
        lock = "" if r.sqlite else " ORDER BY id FOR UPDATE"
        incidents_sql = (f"SELECT {cols} FROM incidents WHERE incident_key IN ({{in_}})"
                         f" AND (state != 'resolved' OR resolved_at >= ?){lock}")
        recent = [r.dt(self.now - self.flap.window)]
        _lock_keys(r, keys)
        if r.sqlite:  # BEGIN IMMEDIATE holds the write lock: max(id) cannot move under us
            self._top = r.execute("SELECT COALESCE(MAX(id), 0) FROM incidents")[0][0]
        # PostgreSQL: planned for their values (prepare=False); a generic plan of the incidents query (ORDER BY id
        # FOR UPDATE) took 30 times as long as the custom one (pg_stat_statements, docs/benchmarks.md)
        episodes = r.select_in(alerts_sql, {fp for fp, _ in pairs}, since, prepare=False)
        found = r.select_in(incidents_sql, keys, recent, prepare=False)
        for row in episodes:
            pair = (row[1], r.read_when(row[2]))
            if pair in pairs:
                ep = Episode(row[3], annotations_text(row[4]), r.read_dt(row[5]), row[6])
                self.rows[pair] = _Row(row[0], ep)
        inc_ids = {x.episode.incident_id for x in self.rows.values()} - {None} - {f[0] for f in found}
        found += r.select_in(f"SELECT {cols} FROM incidents WHERE id IN ({{in_}}){lock}", inc_ids)
        for f in sorted(found):
            snap = IncidentSnap(f[0], State(f[2]), f[3], f[4], bool(f[5]),
                                tuple(datetime.fromisoformat(t) for t in r.read_js(f[6])), r.read_dt(f[7]))
            self.incs[f[0]] = _Inc(snap, f[1], r.read_when(f[8]))
            if snap.is_open:
                self.open_by_key[f[1]] = f[0]
            elif f[1] in keys:
                self.recent_by_key[f[1]] = f[0]  # sorted by id: the latest wins
        self._want = len(set(keys) - self.open_by_key.keys())

    def apply(self, a: PreparedAlert, touched: set[int]) -> None:
        pair = (a.fingerprint, a.starts_at)
        row = self.rows.get(pair)
        episode = row.episode if row is not None else None
        if a.status == "firing":
            open_id, recent_id = self.open_by_key.get(a.key), self.recent_by_key.get(a.key)
            d = decide_firing(a.severity, a.annotations_json, a.ends_at, episode,
                              self.incs[open_id].snap if open_id is not None else None,
                              self.incs[recent_id].snap if recent_id is not None else None, self.now, self.flap)
        else:
            own = episode.incident_id if episode is not None else None
            d = decide_resolved(episode, self.incs[own].snap if own is not None else None, self.now, self.flap)
        self.result.reasons[d.reason.value] += 1
        inc_id = self._apply_incident(a, d, episode)
        if d.reason is not Reason.REPEAT:
            self.journal.append((a, d.reason.value, inc_id))
        if inc_id is not None:
            touched.add(inc_id)
        self._apply_episode(a, d, pair, row, inc_id)

    def _apply_incident(self, a: PreparedAlert, d: Decision, episode: Episode | None) -> int | None:
        if d.incident is None:
            return episode.incident_id if episode is not None else None
        if d.opens_incident:
            inc_id = self._next_id()
            self.incs[inc_id] = _Inc(d.incident._replace(id=inc_id), a.key, self.now, first=a)
            self.open_by_key[a.key] = inc_id
            self.result.opened.append((inc_id, d.incident.severity))
            opened = {"alert": a.fingerprint, "title": "", "alerts": 1}  # title: set in _incident_row
            self.incs[inc_id].opened = opened
            self.events.append((inc_id, "opened", opened))
            return inc_id
        assert d.incident.id is not None
        inc_id = d.incident.id
        inc = self.incs[inc_id]
        was_open = inc.snap.is_open
        inc.snap, inc.dirty = d.incident, True
        inc.resolved_now = d.incident.state is State.RESOLVED and (was_open or inc.resolved_now)
        if d.reason in (Reason.JOIN, Reason.FLAP) and episode is None:
            inc.new_alerts += 1
            if inc.first is None and inc_id not in self._joined:  # incidents opened in this batch are "opened"
                self._joined.add(inc_id)
                self.result.joined.append(inc_id)
        if d.reason is Reason.FLAP and not was_open:
            self.result.reopened.append(inc_id)
            self.open_by_key[inc.key] = inc_id
            self.recent_by_key.pop(inc.key, None)
        if d.reason is Reason.RESOLVE_INCIDENT:
            self.open_by_key.pop(inc.key, None)
            self.recent_by_key[inc.key] = inc_id
            self.result.resolved.append((inc_id, d.incident.severity, (self.now - inc.opened_at).total_seconds()))
        if d.reason is Reason.JOIN and inc.opened is not None:
            inc.opened["alerts"] += 1
        elif d.reason in _EVENT_KIND:
            self.events.append((inc_id, _EVENT_KIND[d.reason], {"alert": a.fingerprint}))
        return inc_id

    def _next_id(self) -> int:
        """Incident ids are taken up front so new incidents insert in one executemany at flush."""
        if not self._ids:
            r = self.raw
            if r.sqlite:  # read in load(): no statement runs while deciding
                top = max([self._top, *self.incs.keys()])
                self._ids = list(range(top + 64, top, -1))
            else:  # as many as keys without an open incident (one each, usually), more if a key opens twice
                want, self._want = max(self._want, 1), 16
                got = r.execute("SELECT nextval(pg_get_serial_sequence('incidents', 'id'))"
                                " FROM generate_series(1, ?)", [want])
                self._ids = sorted((g[0] for g in got), reverse=True)
        return self._ids.pop()

    def _apply_episode(self, a: PreparedAlert, d: Decision, pair: tuple[str, datetime], row: _Row | None,
                       inc_id: int | None) -> None:
        if row is None:
            ep = Episode(d.store_status or a.status, a.annotations_json, a.ends_at, inc_id)
            self.rows[pair] = _Row(None, ep, a, 1, False)
            return
        row.receive += 1
        if d.store_status is not None:
            row.episode = Episode(d.store_status, a.annotations_json, a.ends_at, row.episode.incident_id)
            row.changed = True

    def decide(self, payloads: list[PreparedPayload]) -> None:
        """Apply every alert in arrival order (pure Python: no statement runs here)."""
        for p in payloads:
            touched: set[int] = set()
            for a in p.alerts:
                self.apply(a, touched)
            self.receipts.append((p.receiver, p.group_key, p.status, len(p.alerts), p.truncated_alerts))
            if p.truncated_alerts:
                self.result.truncated += p.truncated_alerts
                for inc_id in sorted(touched):
                    self.events.append((inc_id, "truncated", {"truncated_alerts": p.truncated_alerts}))
                    self.incs[inc_id].truncated += p.truncated_alerts

    def statements(self) -> list[Statement]:
        """The batch's writes as (statement, rows), in an order the foreign keys accept; built without I/O."""
        r, now = self.raw, self.raw.dt(self.now)
        out: list[Statement] = []
        new_incs = [i for i in self.incs.values() if i.first is not None]
        # updates first: an incident this batch resolves must leave the partial unique index (one open incident
        # per key) before a new incident of the same key, opened in the same batch, enters it
        out.append(self._update_incidents(now))
        out.append(Statement("INSERT INTO incidents (id, incident_key, key_labels, state, severity, title, labels,"
                             " annotations, firing_alerts, alert_count, flapping, changes, resolve_after, opened_at,"
                             " updated_at, resolved_at, resolved_by, truncated_alerts)"
                             " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             [self._incident_row(i, now) for i in new_incs], _INCIDENT_TYPES))
        new, repeat, changed = [], [], []
        dt, js = r.dt, r.js
        for x in self.rows.values():
            ep = x.episode
            if x.id is None:
                assert x.alert is not None
                a = x.alert
                new.append((a.fingerprint, dt(a.starts_at), ep.status, a.labels_json, ep.annotations,
                            dt(ep.ends_at), a.generator_url, ep.incident_id, now, now, x.receive))
            elif x.receive:
                repeat.append((x.receive, now, x.id))
                if x.changed:
                    changed.append((ep.status, ep.annotations, dt(ep.ends_at), x.id))
        out.append(Statement("INSERT INTO alerts (fingerprint, starts_at, status, labels, annotations, ends_at,"
                             " generator_url, incident_id, first_seen, last_seen, receive_count)"
                             " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", new, _ALERT_TYPES))
        out.append(Statement("UPDATE alerts SET receive_count = receive_count + ?, last_seen = ? WHERE id = ?",
                             repeat, ("int", "timestamptz", "bigint"),
                             "WITH v(n, seen, id) AS ({values}) UPDATE alerts SET receive_count = receive_count"
                             " + v.n, last_seen = v.seen FROM v WHERE alerts.id = v.id"))
        out.append(Statement("UPDATE alerts SET status = ?, annotations = ?, ends_at = ? WHERE id = ?", changed,
                             ("text", "jsonb", "timestamptz", "bigint"),
                             "WITH v(status, annotations, ends_at, id) AS ({values}) UPDATE alerts"
                             " SET status = v.status, annotations = v.annotations, ends_at = v.ends_at"
                             " FROM v WHERE alerts.id = v.id"))
        out.append(Statement("INSERT INTO incident_events (incident_id, at, kind, actor, detail)"
                             " VALUES (?, ?, ?, ?, ?)",
                             [(i, now, kind, "alertmanager", js(detail)) for i, kind, detail in self.events],
                             ("bigint", "timestamptz", "text", "text", "jsonb")))
        out.append(Statement("INSERT INTO alert_journal (at, fingerprint, starts_at, status, ends_at, reason,"
                             " incident_id, annotations) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             [(now, a.fingerprint, dt(a.starts_at), a.status, dt(a.ends_at), reason, inc_id,
                               a.annotations_json if reason == "update" else None)
                              for a, reason, inc_id in self.journal], _JOURNAL_TYPES))
        out.append(Statement("INSERT INTO webhook_receipts (received_at, receiver, group_key, status, alerts,"
                             " truncated_alerts) VALUES (?, ?, ?, ?, ?, ?)", [(now, *row) for row in self.receipts],
                             ("timestamptz", "text", "text", "text", "int", "int")))
        return out

    def write(self, statements: list[Statement], hooks: BatchHook | None) -> BatchResult:
        """Run the statements, then the hooks, in the caller's transaction."""
        for st in statements:
            self.raw.many(st.sql, st.rows, st.cte, st.types)
        if hooks is not None:
            hooks.on_batch(self.raw.conn, self.result, self.now)
        return self.result

    def _incident_row(self, inc: _Inc, now: Any) -> tuple[Any, ...]:
        r, s, a = self.raw, inc.snap, inc.first
        assert a is not None
        assert s.id is not None
        labels, annotations = orjson.loads(a.labels_json), orjson.loads(a.annotations_json)
        title = title_of(labels, annotations)
        if inc.opened is not None:
            inc.opened["title"] = title
        self.result.opened_rows[s.id] = {"labels": labels, "severity": s.severity, "annotations": annotations,
                                         "fingerprint": a.fingerprint, "starts_at": a.starts_at}
        resolved = s.state is State.RESOLVED
        return (s.id, a.key, a.key_labels_json, s.state.value, s.severity, title, a.labels_json,
                a.annotations_json, s.firing_alerts, 1 + inc.new_alerts, r.flag(s.flapping),
                r.js([t.isoformat() for t in s.changes]), r.dt(s.resolve_after), now, now,
                now if resolved else None, "alertmanager" if resolved else None, inc.truncated)

    def _update_incidents(self, now: Any) -> Statement:
        r, rows = self.raw, []
        for inc in self.incs.values():
            if inc.first is not None or not (inc.dirty or inc.truncated):
                continue
            s = inc.snap
            # resolved_at: set when resolved in this batch, cleared while open, else kept (a human resolved it)
            mode = 1 if inc.resolved_now else 2 if s.is_open else 0
            rows.append((s.state.value, s.severity, s.firing_alerts, r.flag(s.flapping),
                         r.js([t.isoformat() for t in s.changes]), r.dt(s.resolve_after), now, inc.new_alerts,
                         inc.truncated, mode, now, mode, s.id))
        return Statement("UPDATE incidents SET state = ?, severity = ?, firing_alerts = ?, flapping = ?, changes = ?,"
                " resolve_after = ?, updated_at = ?, alert_count = alert_count + ?,"
                " truncated_alerts = truncated_alerts + ?,"
                " resolved_at = CASE ? WHEN 1 THEN ? WHEN 2 THEN NULL ELSE resolved_at END,"
                " resolved_by = CASE ? WHEN 1 THEN 'alertmanager' WHEN 2 THEN NULL ELSE resolved_by END"
                " WHERE id = ?", rows,
                ("text", "text", "int", "boolean", "jsonb", "timestamptz", "timestamptz", "int", "int", "int",
                 "timestamptz", "int", "bigint"),
                "WITH v(state, severity, firing, flapping, changes, resolve_after, now, added, truncated, mode, now2,"
                " mode2, id) AS ({values}) UPDATE incidents SET state = v.state, severity = v.severity,"
                " firing_alerts = v.firing, flapping = v.flapping, changes = v.changes,"
                " resolve_after = v.resolve_after, updated_at = v.now, alert_count = alert_count + v.added,"
                " truncated_alerts = truncated_alerts + v.truncated,"
                " resolved_at = CASE v.mode WHEN 1 THEN v.now2 WHEN 2 THEN NULL ELSE resolved_at END,"
                " resolved_by = CASE v.mode2 WHEN 1 THEN 'alertmanager' WHEN 2 THEN NULL ELSE resolved_by END"
                " FROM v WHERE incidents.id = v.id")


def ingest_batch(conn: Connection, payloads: list[PreparedPayload], now: datetime,
                 flap: FlapConfig, hooks: BatchHook | None = None) -> BatchResult:
    """Apply payloads in arrival order; the caller's transaction commits everything or nothing."""
    batch = IngestBatch(conn, now, flap)
    batch.load([a for p in payloads for a in p.alerts])
    batch.decide(payloads)
    return batch.write(batch.statements(), hooks)
