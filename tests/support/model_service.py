"""Helpers of the model-based concurrency test (tests/webhook/incidents/test_model_concurrency.py).

- `Databases`: a fresh, already migrated database per hypothesis example (SQLite: a copied file; PostgreSQL:
  CREATE DATABASE ... TEMPLATE), so an example costs no Alembic run.
- `Replica`: the real service (create_app with the fake clock and tick_seconds=0, in-process ingest) with an HTTP
  client on it; several replicas on one database are what `tocsin serve` with its ingest process, or a fleet of
  replicas, amounts to: several writers on the same rows.
- `SendLog`: every message a notifier accepted, by delivery idempotency key, across replicas and restarts.
- `read_state`: the rows the invariants are checked against, read on a connection of the test's own.
"""

from __future__ import annotations

import abc
import contextlib
import itertools
import os
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.pool import NullPool

from tests.support.clock import FakeClock
from tests.support.harness import API_TOKEN, WEBHOOK_TOKEN, make_config
from webhook.app import build_asgi, create_app, tick
from webhook.config import TocsinConfig
from webhook.escalation.tables import escalation_runs, escalation_steps
from webhook.escalation.worker import EscalationWorker
from webhook.incidents.tables import alerts, incident_events, incidents
from webhook.notifiers import Delivered
from webhook.notifiers.tables import deliveries
from webhook.service import Service
from webhook.store.db import make_engine
from webhook.store.migrate import upgrade

#: The one policy of the model test: a page at once, a second step after 5 minutes (both to the log notifier:
#: no channel is configured, so every channel is delivered by webhook/notifiers/log.py).
POLICY: dict[str, Any] = {"name": "page", "steps": [
    {"after": "0m", "targets": [{"slack": "#ops"}]},
    {"after": "5m", "targets": [{"slack": "#ops-leads"}]},
]}


def model_config(db_url: str, workdir: Path) -> TocsinConfig:
    """Small and fast: one route, one policy, no storm grouping (a storm summary is one row for many incidents,
    which the per-incident invariants would have to model), migrations done by `Databases`."""
    return make_config(db_url, workdir, database={"auto_migrate": False, "sqlite_synchronous": "NORMAL"},
                       escalation={"policies": [POLICY], "route": {"policy": "page"},
                                   "noise": {"storm_threshold": 0}})


# --- databases ---------------------------------------------------------------------------------------------

class Databases(abc.ABC):
    """A fresh migrated database per example."""

    @abc.abstractmethod
    def new(self) -> tuple[str, Path]:
        """(SQLAlchemy URL, a work directory of its own) for one example."""

    @abc.abstractmethod
    def drop(self, url: str, workdir: Path) -> None:
        """Remove one example's database."""

    def close(self) -> None:  # noqa: B027 - a no-op unless the kind keeps a template to remove
        """Remove the template."""


class SqliteDatabases(Databases):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.template = root / "template.db"
        engine = make_engine(f"sqlite:///{self.template}")
        upgrade(engine)
        engine.dispose()  # the last connection checkpoints the WAL into the file
        self._n = itertools.count()

    def new(self) -> tuple[str, Path]:
        workdir = Path(tempfile.mkdtemp(prefix=f"ex{next(self._n)}-", dir=self.root))
        shutil.copyfile(self.template, workdir / "tocsin.db")
        return f"sqlite:///{workdir / 'tocsin.db'}", workdir

    def drop(self, url: str, workdir: Path) -> None:
        shutil.rmtree(workdir, ignore_errors=True)


class PostgresDatabases(Databases):
    def __init__(self, server_url: str, root: Path) -> None:
        self.base = server_url.rsplit("/", 1)[0]
        self.root = root
        self.prefix = f"model{os.getpid()}"
        self.template = f"{self.prefix}_tmpl"
        self._admin = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self._sql(f"DROP DATABASE IF EXISTS {self.template}")
        self._sql(f"CREATE DATABASE {self.template}")
        engine = make_engine(f"{self.base}/{self.template}")
        upgrade(engine)
        engine.dispose()
        self._n = itertools.count()

    def _sql(self, statement: str) -> None:
        with self._admin.connect() as conn:
            conn.execute(text(statement))

    def new(self) -> tuple[str, Path]:
        name = f"{self.prefix}_{next(self._n)}"
        self._sql(f"CREATE DATABASE {name} TEMPLATE {self.template}")
        return f"{self.base}/{name}", Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.root))

    def drop(self, url: str, workdir: Path) -> None:
        self._sql(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")
        shutil.rmtree(workdir, ignore_errors=True)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._sql(f"DROP DATABASE IF EXISTS {self.template} WITH (FORCE)")
        self._admin.dispose()


# --- what was sent ------------------------------------------------------------------------------------------

@dataclass
class SendLog:
    """Messages a notifier accepted (Delivered), per delivery idempotency key: (replica, time, kind, incident)."""

    sends: dict[str, list[tuple[str, datetime, str, int | None]]] = field(default_factory=lambda: defaultdict(list))

    def watch(self, worker: EscalationWorker, replica: str, clock: FakeClock) -> None:
        """Record every send of `worker`'s outbox (wraps its one call to a notifier)."""
        outbox = worker.outbox
        call: Callable[[Any], Awaitable[Any]] = outbox._call

        async def recorded(job: Any) -> Any:
            result = await call(job)
            if isinstance(result, Delivered):
                r = job.row
                self.sends[r["idem_key"]].append((replica, clock(), r["kind"], r["incident_id"]))
            return result

        outbox._call = recorded  # type: ignore[method-assign]

    def duplicates(self) -> dict[str, list[tuple[str, datetime, str, int | None]]]:
        return {k: v for k, v in self.sends.items() if len(v) > 1}

    def count(self) -> int:
        return sum(len(v) for v in self.sends.values())


# --- the service --------------------------------------------------------------------------------------------

@dataclass
class Replica:
    name: str
    app: FastAPI
    client: httpx.AsyncClient
    lifespan: contextlib.AbstractAsyncContextManager[Any]

    @property
    def svc(self) -> Service:
        svc: Service = self.app.state.svc
        return svc

    async def post_webhook(self, body: Any) -> httpx.Response:
        return await self.client.post("/webhook/alertmanager", json=body,
                                      headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})

    async def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.request(method, path, headers={"Authorization": f"Bearer {API_TOKEN}"}, **kwargs)

    async def tick(self) -> None:
        """One run of the service's ticker (wake snoozed, resolve quiet, fire due steps), then the sends it started
        (the tick drains the outbox itself, or pokes a sender task that `sent()` waits for)."""
        await tick(self.svc)
        for worker in self.svc.workers:
            sent = getattr(worker, "sent", None) if isinstance(worker, EscalationWorker) else None
            if sent is not None:
                await sent()

    async def stop(self) -> None:
        try:
            await self.client.aclose()
        finally:
            await self.lifespan.__aexit__(None, None, None)


async def start_replica(name: str, cfg: TocsinConfig, clock: FakeClock, sends: SendLog) -> Replica:
    app = create_app(cfg, clock=clock, tick_seconds=0)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=build_asgi(app)), base_url="http://tocsin.test")
    for worker in app.state.svc.workers:
        if isinstance(worker, EscalationWorker):
            sends.watch(worker, name, clock)
    return Replica(name, app, client, lifespan)


# --- what the invariants read -------------------------------------------------------------------------------

def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass
class State:
    incidents: dict[int, dict[str, Any]]
    #: (fingerprint, startsAt) -> episode row
    alerts: dict[tuple[str, datetime], dict[str, Any]]
    runs: dict[int, list[dict[str, Any]]]
    steps: dict[int, list[dict[str, Any]]]
    deliveries: dict[int, list[dict[str, Any]]]
    events: dict[int, list[dict[str, Any]]]

    def states(self) -> Counter[str]:
        return Counter(i["state"] for i in self.incidents.values())


def read_state(engine: Engine) -> State:
    def by_incident(rows: Any) -> dict[int, list[dict[str, Any]]]:
        out: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            out[r["incident_id"]].append(r)
        return out

    with engine.connect() as conn:
        incs = {r.id: dict(r._mapping) for r in conn.execute(select(incidents))}
        eps = {(r.fingerprint, utc(r.starts_at)): dict(r._mapping) for r in conn.execute(select(alerts))}
        runs = by_incident(dict(r._mapping) for r in conn.execute(select(escalation_runs)))
        steps = by_incident(dict(r._mapping) for r in conn.execute(select(escalation_steps)))
        sent = by_incident(dict(r._mapping) for r in conn.execute(select(deliveries)))
        events = by_incident(dict(r._mapping) for r in conn.execute(
            select(incident_events.c.id, incident_events.c.incident_id, incident_events.c.kind,
                   incident_events.c.actor).order_by(incident_events.c.id)))
    return State(incs, eps, runs, steps, sent, events)
