"""Real Alertmanagers (Debian's binary) posting to Tocsin served in-process on a loopback port, and the reconciler
driven by hand: `two_polls()` advances the fake clock by the interval and ticks, twice, without waiting."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml
from sqlalchemy import Connection, select

from tests.support.clock import FakeClock
from tests.support.harness import API_TOKEN, WEBHOOK_TOKEN, make_config
from tests.support.procs import ALERTMANAGER, Proc, free_port, spawn, wait_http
from webhook.app import build_asgi, create_app
from webhook.incidents.tables import alerts, incident_events, incidents
from webhook.metrics import REGISTRY
from webhook.reconcile.decide import Key, episode_key
from webhook.reconcile.worker import Reconciler
from webhook.service import Service

RECEIVER = "tocsin"
INTERVAL = timedelta(seconds=30)


def am_config(tocsin_port: int, max_alerts: int = 2) -> dict[str, Any]:
    """Tocsin's receiver (max_alerts truncates), another team's receiver, and one inhibition rule."""
    hook = {"url": f"http://127.0.0.1:{tocsin_port}/webhook/alertmanager", "send_resolved": True,
            "max_alerts": max_alerts,
            "http_config": {"authorization": {"type": "Bearer", "credentials": WEBHOOK_TOKEN}}}
    return {
        "route": {"receiver": RECEIVER, "group_by": ["alertname"], "group_wait": "0s", "group_interval": "1s",
                  "repeat_interval": "1h",
                  "routes": [{"receiver": "other", "matchers": ['team="other"']}]},
        "receivers": [{"name": RECEIVER, "webhook_configs": [hook]}, {"name": "other"}],
        "inhibit_rules": [{"source_matchers": ["severity=critical"], "target_matchers": ["severity=warning"],
                           "equal": ["cluster"]}],
    }


@dataclass
class AM:
    """One Alertmanager on fixed ports, so that it can be restarted (with or without its data) at the same URL."""

    workdir: Path
    config: dict[str, Any]
    port: int = field(default_factory=free_port)
    cluster_port: int | None = None
    peers: list[int] = field(default_factory=list)
    proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "alertmanager.yml").write_text(yaml.safe_dump(self.config))
        args = [ALERTMANAGER, f"--config.file={self.workdir / 'alertmanager.yml'}",
                f"--storage.path={self.workdir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}"]
        if self.cluster_port is None:
            args.append("--cluster.listen-address=")
        else:
            args += [f"--cluster.listen-address=127.0.0.1:{self.cluster_port}",
                     f"--cluster.advertise-address=127.0.0.1:{self.cluster_port}",
                     "--cluster.gossip-interval=50ms", "--cluster.pushpull-interval=500ms",
                     "--cluster.peer-timeout=500ms", *(f"--cluster.peer=127.0.0.1:{p}" for p in self.peers)]
        self.proc = spawn("alertmanager", args, self.workdir)
        wait_http(self.proc, self.url + "/-/ready")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def restart(self, wipe: bool) -> None:
        """Stop; with `wipe` its data directory (silences, notification log) is deleted; start again."""
        self.stop()
        if wipe:
            shutil.rmtree(self.workdir / "data", ignore_errors=True)
        self.start()


def pair(workdir: Path, config: dict[str, Any]) -> list[AM]:
    a, b = free_port(), free_port()
    return [AM(workdir / "am0", config, cluster_port=a, peers=[b]), AM(workdir / "am1", config, cluster_port=b,
                                                                      peers=[a])]


def now() -> datetime:
    return datetime.now(UTC)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def post_alerts(ams: Sequence[AM], items: list[dict[str, Any]]) -> None:
    """As Prometheus does: the same alerts to every Alertmanager of the pair."""
    async with httpx.AsyncClient(timeout=10) as c:
        for am in ams:
            (await c.post(am.url + "/api/v2/alerts", json=items)).raise_for_status()


def firing(labels: dict[str, str], starts: datetime) -> dict[str, Any]:
    return {"labels": labels, "annotations": {"summary": "test"}, "startsAt": iso(starts),
            "endsAt": iso(now() + timedelta(hours=1))}


def resolved(labels: dict[str, str], starts: datetime) -> dict[str, Any]:
    return {"labels": labels, "annotations": {"summary": "test"}, "startsAt": iso(starts),
            "endsAt": iso(max(now(), starts + timedelta(milliseconds=1)))}


async def silence(am: AM, matchers: dict[str, str], comment: str = "maintenance", by: str = "bob") -> str:
    body = {"matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in matchers.items()],
            "startsAt": iso(now() - timedelta(seconds=1)), "endsAt": iso(now() + timedelta(hours=1)),
            "createdBy": by, "comment": comment}
    async with httpx.AsyncClient(timeout=10) as c:
        r = await c.post(am.url + "/api/v2/silences", json=body)
        r.raise_for_status()
        return str(r.json()["silenceID"])


async def expire(am: AM, silence_id: str) -> None:
    async with httpx.AsyncClient(timeout=10) as c:
        (await c.delete(am.url + f"/api/v2/silence/{silence_id}")).raise_for_status()


async def listing(ams: Sequence[AM]) -> dict[Key, dict[str, Any]]:
    """The union of what the Alertmanagers list for Tocsin's receiver (the test's own reading of the API)."""
    out: dict[Key, dict[str, Any]] = {}
    async with httpx.AsyncClient(timeout=10) as c:
        for am in ams:
            r = await c.get(am.url + "/api/v2/alerts")
            r.raise_for_status()
            for a in r.json():
                if RECEIVER in {x["name"] for x in a["receivers"]}:
                    key = episode_key(a["fingerprint"], datetime.fromisoformat(a["startsAt"]))
                    seen = out.get(key)
                    if seen is None or a["status"]["state"] == "suppressed":
                        out[key] = a
    return out


async def wait_for(what: str, check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    """Poll `check` until it holds; fail with `what` after the deadline (never a fixed sleep)."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@dataclass
class Served:
    svc: Service
    rec: Reconciler
    clock: FakeClock
    url: str

    async def two_polls(self) -> list[int]:
        """Two polls, one interval apart on the fake clock: what the ticker would do in two intervals."""
        done = []
        for _ in range(2):
            before = polls("ok")
            self.clock.advance(seconds=INTERVAL.total_seconds())
            done.append(await self.tick())
            assert polls("ok") == before + 1, "the tick did not poll (gated, not the leader, or an AM failed)"
        return done

    async def tick(self) -> int:
        """What webhook.app.tick does for the singletons: take (or keep) the leadership, then tick."""
        assert self.svc.leader is not None and await self.svc.leader.is_leader()
        return await self.rec.tick(self.clock())

    async def poll(self) -> int:
        """One poll now, whatever the interval."""
        assert self.svc.leader is not None and await self.svc.leader.is_leader()
        return await self.rec.poll(self.clock())

    async def read(self, fn: Callable[[Connection], Any]) -> Any:
        return await self.svc.db.read(fn)

    async def open_incidents(self) -> dict[int, list[Key]]:
        """Open incidents with the keys of their firing alerts."""
        def q(conn: Connection) -> dict[int, list[Key]]:
            out: dict[int, list[Key]] = {r[0]: [] for r in conn.execute(
                select(incidents.c.id).where(incidents.c.state != "resolved"))}
            for r in conn.execute(select(alerts.c.incident_id, alerts.c.fingerprint, alerts.c.starts_at)
                                  .where(alerts.c.status == "firing", alerts.c.incident_id.in_(list(out)))):
                out[r[0]].append(episode_key(r[1], r[2]))
            return out
        found: dict[int, list[Key]] = await self.read(q)
        return found

    async def timeline(self, incident_id: int) -> list[tuple[str, dict[str, Any]]]:
        def q(conn: Connection) -> list[tuple[str, dict[str, Any]]]:
            return [(r[0], r[1]) for r in conn.execute(select(incident_events.c.kind, incident_events.c.detail)
                    .where(incident_events.c.incident_id == incident_id).order_by(incident_events.c.id))]
        got: list[tuple[str, dict[str, Any]]] = await self.read(q)
        return got

    async def incident(self, incident_id: int) -> dict[str, Any]:
        """GET /api/v1/incidents/{id} over HTTP, as a human's client sees it."""
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as c:
            r = await c.get(f"/api/v1/incidents/{incident_id}", headers={"Authorization": f"Bearer {API_TOKEN}"})
            r.raise_for_status()
            got: dict[str, Any] = r.json()
            return got


def polls(result: str) -> float:
    return REGISTRY.get_sample_value("tocsin_reconcile_polls_total", {"result": result}) or 0.0


def counter(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


@contextlib.asynccontextmanager
async def serve_tocsin(db_url: str, tmp_path: Path, port: int, alertmanagers: Sequence[str],
                       **overrides: Any) -> AsyncIterator[Served]:
    """Tocsin (no ticker) on `port` with reconcile on; flapping is out of the way (its holds are not the point)."""
    cfg = make_config(db_url, tmp_path, reconcile={"alertmanagers": list(alertmanagers), "interval": "30s",
                                                   "timeout": "5s", "receivers": [RECEIVER]},
                      incidents={"flap": {"changes": 1000}}, **overrides)
    clock = FakeClock()
    app = create_app(cfg, clock=clock, tick_seconds=0)
    async with app.router.lifespan_context(app):
        server = uvicorn.Server(uvicorn.Config(build_asgi(app), host="127.0.0.1", port=port, lifespan="off",
                                               log_level="warning", access_log=False))
        task = asyncio.create_task(server.serve())
        try:
            await wait_for("uvicorn to start", lambda: _started(server), within=10)
            svc: Service = app.state.svc
            rec = next(w for w in svc.singletons if isinstance(w, Reconciler))
            yield Served(svc, rec, clock, f"http://127.0.0.1:{port}")
        finally:
            server.should_exit = True
            await task


async def _started(server: uvicorn.Server) -> bool:
    return bool(server.started)
