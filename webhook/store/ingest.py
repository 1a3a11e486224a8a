"""Store a batch of webhook payloads and dedup their alerts into incidents, in one transaction."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, text, tuple_, update

from webhook.config import FlapConfig
from webhook.incidents import (
    Decision,
    Episode,
    IncidentSnap,
    Reason,
    State,
    decide_firing,
    decide_resolved,
)
from webhook.store.schema import alerts, incident_events, incidents, receipts


@dataclass(frozen=True, slots=True)
class PreparedAlert:
    """An alert from a payload with everything derived that needs no database (done in the request)."""

    fingerprint: str
    starts_at: datetime
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    ends_at: datetime | None
    generator_url: str
    key: str
    key_labels: dict[str, str]
    severity: str
    title: str


@dataclass(frozen=True, slots=True)
class PreparedPayload:
    receiver: str
    group_key: str
    status: str
    truncated_alerts: int
    alerts: list[PreparedAlert]


@dataclass
class BatchResult:
    """What one committed batch did, for metrics and for the follow-up work (escalation, remediation)."""

    reasons: Counter[str] = field(default_factory=Counter)
    opened: list[tuple[int, str]] = field(default_factory=list)  # (incident id, severity)
    resolved: list[tuple[int, str, float]] = field(default_factory=list)  # (id, severity, seconds open)
    joined: list[int] = field(default_factory=list)  # incidents that got a new alert
    truncated: int = 0


@dataclass
class _Inc:
    snap: IncidentSnap
    key: str
    opened_at: datetime
    new_alerts: int = 0
    dirty: bool = False


def _lock_keys(conn: Connection, keys: list[str]) -> None:
    """Serialise ingest of the same incident keys across replicas (PostgreSQL); SQLite has one writer."""
    if conn.dialect.name != "postgresql":
        return
    for key in sorted(keys):  # a fixed order avoids deadlocks between replicas
        lock_id = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_id})


def _snap(row: Any) -> IncidentSnap:
    return IncidentSnap(
        row.id, State(row.state), row.severity, row.firing_alerts, row.flapping,
        tuple(datetime.fromisoformat(t) for t in row.changes), row.resolve_after,
    )


_INC_COLS = (incidents.c.id, incidents.c.incident_key, incidents.c.state, incidents.c.severity,
             incidents.c.firing_alerts, incidents.c.flapping, incidents.c.changes, incidents.c.resolve_after,
             incidents.c.opened_at)


class _Batch:
    """State of one ingest transaction: rows read once, decisions applied in order, rows written once."""

    def __init__(self, conn: Connection, now: datetime, flap: FlapConfig) -> None:
        self.conn, self.now, self.flap = conn, now, flap
        self.result = BatchResult()
        self.episodes: dict[tuple[str, datetime], tuple[int | None, Episode]] = {}
        self.incs: dict[int, _Inc] = {}
        self.open_by_key: dict[str, int] = {}
        self.recent_by_key: dict[str, int] = {}
        self.new_rows: dict[tuple[str, datetime], dict[str, Any]] = {}
        self.repeat_ids: Counter[int] = Counter()
        self.changed: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []

    def load(self, items: list[PreparedAlert]) -> None:
        pairs = {(a.fingerprint, a.starts_at) for a in items}
        keys = sorted({a.key for a in items})
        _lock_keys(self.conn, keys)
        rows = self.conn.execute(
            select(alerts.c.id, alerts.c.fingerprint, alerts.c.starts_at, alerts.c.status,
                   alerts.c.annotations, alerts.c.ends_at, alerts.c.incident_id)
            .where(tuple_(alerts.c.fingerprint, alerts.c.starts_at).in_(list(pairs)))
        ).all()
        for r in rows:
            self.episodes[(r.fingerprint, r.starts_at)] = (
                r.id, Episode(r.status, r.annotations, r.ends_at, r.incident_id))
        inc_ids = {e.incident_id for _, e in self.episodes.values() if e.incident_id is not None}
        cond = incidents.c.incident_key.in_(keys) & (
            (incidents.c.state != State.RESOLVED.value)
            | (incidents.c.resolved_at >= self.now - self.flap.window))
        if inc_ids:
            cond = cond | incidents.c.id.in_(inc_ids)
        for ir in self.conn.execute(select(*_INC_COLS).where(cond).order_by(incidents.c.id)).all():
            self.incs[ir.id] = _Inc(_snap(ir), ir.incident_key, ir.opened_at)
            if ir.state != State.RESOLVED.value:
                self.open_by_key[ir.incident_key] = ir.id
            elif ir.incident_key in keys:
                self.recent_by_key[ir.incident_key] = ir.id  # ordered by id: the latest wins

    def apply(self, a: PreparedAlert, payload_incidents: set[int]) -> None:
        pair = (a.fingerprint, a.starts_at)
        row_id, episode = self.episodes.get(pair, (None, None))
        if a.status == "firing":
            open_id = self.open_by_key.get(a.key)
            recent_id = self.recent_by_key.get(a.key)
            d = decide_firing(
                a.severity, a.annotations, a.ends_at, episode,
                self.incs[open_id].snap if open_id is not None else None,
                self.incs[recent_id].snap if recent_id is not None else None, self.now, self.flap)
        else:
            inc_id = episode.incident_id if episode is not None else None
            d = decide_resolved(episode, self.incs[inc_id].snap if inc_id is not None else None,
                                self.now, self.flap)
        self.result.reasons[d.reason.value] += 1
        inc_id = self._apply_incident(a, d, episode)
        if inc_id is not None:
            payload_incidents.add(inc_id)
        self._apply_episode(a, d, pair, row_id, episode, inc_id)

    def _apply_incident(self, a: PreparedAlert, d: Decision, episode: Episode | None) -> int | None:
        if d.incident is None:
            return episode.incident_id if episode is not None else None
        if d.opens_incident:
            inc_id = self._insert_incident(a, d.incident)
            self.result.opened.append((inc_id, d.incident.severity))
            self._event(inc_id, "opened", {"alert": a.fingerprint, "title": a.title})
            return inc_id
        assert d.incident.id is not None
        inc = self.incs[d.incident.id]
        was_open = inc.snap.is_open
        inc.snap, inc.dirty = d.incident, True
        if d.reason in (Reason.JOIN, Reason.FLAP) and episode is None:
            inc.new_alerts += 1
            self.result.joined.append(inc.snap.id or 0)
        if d.reason is Reason.FLAP and not was_open:
            self.open_by_key[inc.key] = d.incident.id
            self.recent_by_key.pop(inc.key, None)
        if d.reason is Reason.RESOLVE_INCIDENT:
            self.open_by_key.pop(inc.key, None)
            self.recent_by_key[inc.key] = d.incident.id
            secs = (self.now - inc.opened_at).total_seconds()
            self.result.resolved.append((d.incident.id, d.incident.severity, secs))
        kinds = {Reason.JOIN: "alert_joined", Reason.RESOLVE: "alert_resolved", Reason.FLAP: "flapping",
                 Reason.FLAP_HOLD: "resolve_pending", Reason.RESOLVE_INCIDENT: "resolved"}
        if d.reason in kinds:
            self._event(d.incident.id, kinds[d.reason], {"alert": a.fingerprint})
        return d.incident.id

    def _insert_incident(self, a: PreparedAlert, snap: IncidentSnap) -> int:
        inc_id = self.conn.execute(insert(incidents).values(
            incident_key=a.key, key_labels=a.key_labels, state=snap.state.value, severity=snap.severity,
            title=a.title, labels=a.labels, annotations=a.annotations, firing_alerts=snap.firing_alerts,
            alert_count=1, flapping=snap.flapping, changes=[t.isoformat() for t in snap.changes],
            resolve_after=None, opened_at=self.now, updated_at=self.now, truncated_alerts=0,
        ).returning(incidents.c.id)).scalar_one()
        self.incs[inc_id] = _Inc(replace(snap, id=inc_id), a.key, self.now)
        self.open_by_key[a.key] = inc_id
        return int(inc_id)

    def _apply_episode(self, a: PreparedAlert, d: Decision, pair: tuple[str, datetime], row_id: int | None,
                       episode: Episode | None, inc_id: int | None) -> None:
        status = d.store_status or (episode.status if episode else a.status)
        self.episodes[pair] = (row_id, Episode(status, a.annotations if d.store_status else
                                               (episode.annotations if episode else a.annotations),
                               a.ends_at, inc_id))
        pending = self.new_rows.get(pair)
        if episode is None:
            self.new_rows[pair] = {
                "fingerprint": a.fingerprint, "starts_at": a.starts_at, "status": status, "labels": a.labels,
                "annotations": a.annotations, "ends_at": a.ends_at, "generator_url": a.generator_url,
                "incident_id": inc_id, "first_seen": self.now, "last_seen": self.now, "receive_count": 1}
        elif pending is not None:
            pending["receive_count"] += 1
            if d.store_status:
                pending.update(status=status, annotations=a.annotations, ends_at=a.ends_at)
        elif d.store_status is None:
            assert row_id is not None
            self.repeat_ids[row_id] += 1
        else:
            assert row_id is not None
            self.changed[row_id] = {"b_id": row_id, "status": status, "annotations": a.annotations,
                                    "ends_at": a.ends_at}
            self.repeat_ids[row_id] += 1

    def _event(self, inc_id: int, kind: str, detail: dict[str, Any]) -> None:
        self.events.append({"incident_id": inc_id, "at": self.now, "kind": kind, "actor": "alertmanager",
                            "detail": detail})

    def flush(self) -> None:
        c = self.conn
        if self.new_rows:
            c.execute(insert(alerts), list(self.new_rows.values()))
        if self.repeat_ids:
            c.execute(update(alerts).where(alerts.c.id == bindparam("b_id")).values(
                receive_count=alerts.c.receive_count + bindparam("b_n"), last_seen=self.now),
                [{"b_id": i, "b_n": n} for i, n in self.repeat_ids.items()])
        if self.changed:
            c.execute(update(alerts).where(alerts.c.id == bindparam("b_id")).values(
                status=bindparam("status"), annotations=bindparam("annotations"), ends_at=bindparam("ends_at")),
                list(self.changed.values()))
        dirty = [i for i in self.incs.values() if i.dirty]
        for inc in dirty:
            s = inc.snap
            values: dict[str, Any] = {
                "state": s.state.value, "severity": s.severity, "firing_alerts": s.firing_alerts,
                "flapping": s.flapping, "changes": [t.isoformat() for t in s.changes],
                "resolve_after": s.resolve_after, "updated_at": self.now,
                "alert_count": incidents.c.alert_count + inc.new_alerts,
            }
            if s.state is State.RESOLVED:
                values.update(resolved_at=self.now, resolved_by="alertmanager")
            elif s.is_open:
                values.update(resolved_at=None, resolved_by=None)
            c.execute(update(incidents).where(incidents.c.id == s.id).values(**values))
        if self.events:
            c.execute(insert(incident_events), self.events)


def ingest_batch(conn: Connection, payloads: list[PreparedPayload], now: datetime,
                 flap: FlapConfig) -> BatchResult:
    """Apply payloads in arrival order; the caller's transaction commits everything or nothing."""
    batch = _Batch(conn, now, flap)
    batch.load([a for p in payloads for a in p.alerts])
    receipt_rows = []
    for p in payloads:
        touched: set[int] = set()
        for a in p.alerts:
            batch.apply(a, touched)
        receipt_rows.append({"received_at": now, "receiver": p.receiver, "group_key": p.group_key,
                             "status": p.status, "alerts": len(p.alerts), "truncated_alerts": p.truncated_alerts})
        if p.truncated_alerts:
            batch.result.truncated += p.truncated_alerts
            for inc_id in sorted(touched):
                batch._event(inc_id, "truncated", {"truncated_alerts": p.truncated_alerts})
                conn.execute(update(incidents).where(incidents.c.id == inc_id).values(
                    truncated_alerts=incidents.c.truncated_alerts + p.truncated_alerts))
    batch.flush()
    conn.execute(insert(receipts), receipt_rows)
    return batch.result
