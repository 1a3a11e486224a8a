"""The Forecaster against a database (SQLite and PostgreSQL) with scripted history: one incident opened once,
updated in place, raised to high severity, resolved once; a failed query changes nothing; a fenced replica
writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from tests.support.harness import make_config
from webhook import metrics
from webhook.config import TocsinConfig
from webhook.history import History, HistoryUnavailable, RangeSeries
from webhook.incidents.events import BatchResult
from webhook.incidents.tables import alerts, incident_events, incidents
from webhook.prevention.worker import Forecaster
from webhook.store.db import Connection, Database
from webhook.store.migrate import upgrade

T0 = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
NAME = "TocsinForecastPVCFull"
PVC = {"namespace": "db", "persistentvolumeclaim": "data-db-1"}


class Scripted(History):
    """History whose next answer is set by the test: a linear fill reaching `level` at the query's end (slope
    0.01 per hour), flat at `level` when `flat`, or a failure."""

    def __init__(self, cfg: TocsinConfig) -> None:
        super().__init__(cfg.prometheus)
        self.level, self.flat, self.fail = 0.8, False, False
        self.queries: list[str] = []

    async def range(self, query: str, start: datetime, end: datetime, step: timedelta) -> list[RangeSeries]:
        self.queries.append(query)
        if self.fail:
            raise HistoryUnavailable("Prometheus at http://prom unreachable: ConnectError")
        t = np.arange(start.timestamp(), end.timestamp() + 1, step.total_seconds())
        hours = (t - t[-1]) / 3600
        v = np.full(len(t), self.level) if self.flat else self.level + 0.01 * hours
        return [RangeSeries({"__name__": "", **PVC}, t, v)]


@dataclass
class Recorder:
    results: list[BatchResult] = field(default_factory=list)

    def on_batch(self, conn: Connection, result: BatchResult, now: datetime) -> None:
        self.results.append(result)


@pytest.fixture
async def env(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[TocsinConfig, Database]]:
    cfg = make_config(db_url, tmp_path, prometheus={"url": "http://prom:9090"}, prevention={"forecasts": [{
        "name": NAME, "usage": "kubelet_volume_stats_used_bytes", "capacity": "kubelet_volume_stats_capacity_bytes",
        "labels": {"team": "dba"}}]})
    db = Database.from_url(db_url)
    upgrade(db.engine)
    yield cfg, db
    db.close()


def _rows(db: Database) -> tuple[list[Any], list[Any], list[str]]:
    with db.engine.connect() as conn:
        incs = list(conn.execute(select(incidents).order_by(incidents.c.id)))
        eps = list(conn.execute(select(alerts).order_by(alerts.c.id)))
        kinds = [r.kind for r in conn.execute(select(incident_events.c.kind).order_by(incident_events.c.id))]
    return incs, eps, kinds


async def test_open_update_severity_up_resolve_exactly_once(env: tuple[TocsinConfig, Database]) -> None:
    cfg, db = env
    hist, rec = Scripted(cfg), Recorder()
    fc = Forecaster(cfg, db, rec, history=hist)
    now = T0

    async def tick() -> None:
        nonlocal now
        await fc.run(now)
        now += timedelta(minutes=5)

    for _ in range(2):
        await tick()
    assert _rows(db)[0] == []  # two warnings: not yet
    await tick()
    incs, eps, _ = _rows(db)
    assert [(i.state, i.severity) for i in incs] == [("triggered", "medium")]
    assert eps[0].labels == {**PVC, "team": "dba", "alertname": NAME, "tocsin_preventive": "exhaustion",
                             "severity": "medium"}
    assert eps[0].annotations["tocsin_forecast_eta"] == "2026-12-02T06:10:00Z"  # 10 h after the third round
    assert incs[0].title.startswith(f"{NAME}: namespace=db, persistentvolumeclaim=data-db-1 reaches 90 % in ~10 h")
    await tick()  # ETA moved by 5 min: the episode's annotations follow, nothing else
    incs, eps, kinds = _rows(db)
    assert len(incs) == 1 and len(eps) == 1 and kinds == ["opened"]
    assert eps[0].annotations["tocsin_forecast_eta"] == "2026-12-02T06:15:00Z"
    hist.level = 0.86  # 4 h left: under high_within (6 h)
    await tick()
    incs, eps, kinds = _rows(db)
    assert [(i.state, i.severity) for i in incs] == [("triggered", "high")]
    assert [(e.status, e.labels["severity"]) for e in eps] == [("resolved", "medium"), ("firing", "high")]
    assert eps[0].fingerprint == eps[1].fingerprint
    assert kinds == ["opened", "alert_joined", "alert_resolved", "forecast_moved"]
    hist.flat = True
    for _ in range(2):
        await tick()
    assert _rows(db)[0][0].state == "triggered"  # two clear rounds: still open
    await tick()
    incs, eps, kinds = _rows(db)
    assert [(i.state, i.severity) for i in incs] == [("resolved", "high")]
    assert [e.status for e in eps] == ["resolved", "resolved"]
    assert kinds[-2:] == ["forecast_cleared", "resolved"]
    for _ in range(3):
        await tick()  # clear goes on: nothing more
    assert _rows(db)[2] == kinds
    assert sum(len(r.opened) for r in rec.results) == 1 and sum(len(r.resolved) for r in rec.results) == 1
    assert hist.queries[0] == "(kubelet_volume_stats_used_bytes) / (kubelet_volume_stats_capacity_bytes)"


async def test_a_failed_query_skips_the_round_and_a_new_leader_goes_on(env: tuple[TocsinConfig, Database]) -> None:
    cfg, db = env
    hist = Scripted(cfg)
    fc = Forecaster(cfg, db, None, history=hist)
    for i in range(3):
        await fc.run(T0 + timedelta(minutes=5 * i))
    failed = metrics.PREVENTION_EVALUATIONS.labels(NAME, "failed")._value.get()
    hist.fail, hist.flat = True, True
    for i in range(3, 8):  # Prometheus down: never resolved on missing data
        await fc.run(T0 + timedelta(minutes=5 * i))
    assert metrics.PREVENTION_EVALUATIONS.labels(NAME, "failed")._value.get() == failed + 5
    assert [i.state for i in _rows(db)[0]] == ["triggered"]
    hist.fail = False
    successor = Forecaster(cfg, db, None, history=hist)  # a leader change: no memory
    await successor.run(T0 + timedelta(minutes=45))
    assert [i.state for i in _rows(db)[0]] == ["triggered"]  # one clear round after taking over: still open
    await successor.run(T0 + timedelta(minutes=50))
    await successor.run(T0 + timedelta(minutes=55))
    assert [i.state for i in _rows(db)[0]] == ["resolved"]


async def test_a_fenced_replica_writes_nothing_and_forgets(env: tuple[TocsinConfig, Database]) -> None:
    cfg, db = env
    fc = Forecaster(cfg, db, None, fence=lambda conn: False, history=Scripted(cfg))
    for i in range(4):
        done = await fc.run(T0 + timedelta(minutes=5 * i))
        assert done.fenced
    assert _rows(db) == ([], [], []) and fc.memory == {}


async def test_reconcile_never_holds_a_preventive_alert(env: tuple[TocsinConfig, Database]) -> None:
    """No Alertmanager lists Tocsin's own preventive alerts: reconcile must not close them as gone."""
    from webhook.reconcile import repo as reconcile_repo

    cfg, db = env
    fc = Forecaster(cfg, db, Recorder(), history=Scripted(cfg))
    for i in range(3):
        await fc.run(T0 + timedelta(minutes=5 * i))
    incs, eps, _ = _rows(db)
    assert [i.state for i in incs] == ["triggered"] and eps[0].fingerprint.startswith("tp-")
    with db.engine.connect() as conn:
        assert reconcile_repo.held_alerts(conn) == []
