"""Benchmark: 1,000 critical incidents opened in a burst, 3-step policy, against the fake Slack/Twilio/PagerDuty.

Usage: python bench/escalation.py [--incidents N] [--alerts-per-payload K] [--db sqlite|URL]
Runs the app in-process (real clock, 1 s ticker plus the immediate wake-up after each commit), posts the burst
concurrently and records when each fake vendor received each request. Prints time from webhook to the first
notification request per incident (p50/p99) and step-1 deliveries per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, FakeTwilio
from tests.support.payloads import alert, payload
from webhook.app import create_app
from webhook.config import TocsinConfig

TOKEN = "bench-webhook-token-0123456789"


def serve(cls: type, conn: Any) -> None:
    """Child process: one fake vendor (its contract checks cost CPU; here they do not share our GIL)."""
    with cls() as fake:
        conn.send(fake.url)
        conn.recv()  # until the parent is done


def start_fake(cls: type) -> tuple[Any, Any, str]:
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.get_context("fork").Process(target=serve, args=(cls, child), daemon=True)
    proc.start()
    return proc, parent, parent.recv()


def stamp(svc: Any, seen: dict[int, float]) -> None:
    """Record when the outbox first hands a message about each incident to a notifier (the request starts)."""
    notifiers = svc.workers[0].outbox._notifiers

    class Stamped:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def notify(self, msg: Any) -> Any:
            now = time.perf_counter()
            for view in msg.all_incidents:
                seen.setdefault(int(view.id), now)
            return await self.inner.notify(msg)

    for channel, n in list(notifiers.items()):
        notifiers[channel] = Stamped(n)


def config(db: str, var: Path, slack: str, twilio: str, pd: str) -> TocsinConfig:
    return TocsinConfig(
        server={"var_dir": str(var)}, database={"url": db},
        auth={"webhook": {"bearer_tokens": [TOKEN]}, "api_tokens": [{"name": "bench", "token": TOKEN + "-api"}]},
        channels={"slack": {"token": "xoxb-test-token", "signing_secret": "s", "base_url": f"{slack}/api/"},
                  "twilio": {"account_sid": TEST_ACCOUNT_SID, "auth_token": TEST_AUTH_TOKEN,
                             "from_number": "+15005550006", "public_url": "https://tocsin.example.com",
                             "base_url": twilio},
                  "pagerduty": {"services": {"platform": "bench-routing-key"}, "base_url": f"{pd}/v2"}},
        oncall={"responders": [{"name": "alice", "phone": "+4915100000001", "slack_user": "U0ALICE"}],
                "schedules": [{"name": "primary", "layers": [{"name": "w", "start": "2026-01-05",
                                                              "participants": ["alice"]}]}]},
        escalation={
            "noise": {"storm_threshold": 0, "sms_per_hour": 100000, "voice_per_hour": 100000},
            "delivery": {"batch": int(os.environ.get("BATCH", 100)), "concurrency": int(os.environ.get("CONC", 32))},
            "policies": [{"name": "critical", "steps": [
                {"targets": [{"pagerduty": "platform"}, {"slack": "#ops"}, {"schedule": "primary", "via": ["sms"]}]},
                {"after": "5m", "targets": [{"schedule": "primary", "via": ["voice"]}]},
                {"after": "10m", "targets": [{"schedule": "primary", "via": ["sms"]}]}]}],
            "route": {"policy": "critical"}},
    )


async def bench(n: int, per_payload: int, db: str, var: Path) -> dict[str, float]:
    seen: dict[int, float] = {}
    fakes = [start_fake(cls) for cls in (FakeSlack, FakeTwilio, FakePagerDuty)]
    try:
        app = create_app(config(db, var, *(url for _, _, url in fakes)), tick_seconds=1.0)
        async with app.router.lifespan_context(app):
            stamp(app.state.svc, seen)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://tocsin") as client:
                bodies = [payload(*(alert(alertname=f"B{i + j}") for j in range(per_payload)))
                          for i in range(0, n, per_payload)]
                sent: dict[str, float] = {}

                async def post(body: dict[str, Any]) -> None:
                    t = time.perf_counter()
                    for a in body["alerts"]:
                        sent[a["labels"]["alertname"]] = t
                    r = await client.post("/webhook/alertmanager", json=body,
                                          headers={"Authorization": f"Bearer {TOKEN}"})
                    r.raise_for_status()

                start = time.perf_counter()
                await asyncio.gather(*(post(b) for b in bodies))
                accepted = time.perf_counter() - start
                deadline = time.monotonic() + 300
                while delivered(app) < 3 * n and time.monotonic() < deadline:  # noqa: ASYNC110 - polling a counter
                    await asyncio.sleep(0.05)
                done = time.perf_counter()
                ids = await app.state.svc.db.read(
                    lambda c: c.exec_driver_sql("SELECT id, labels FROM incidents").all())
    finally:
        for proc, pipe, _ in fakes:
            pipe.send("stop")
            proc.join(10)
    names = {i: (labels if isinstance(labels, dict) else json.loads(labels))["alertname"]
             for i, labels in ids}
    lat = sorted(seen[i] - sent[names[i]] for i in names)
    return {"incidents": len(names), "accepted_s": accepted,
            "p50_ms": statistics.median(lat) * 1000, "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1000,
            "max_ms": lat[-1] * 1000, "deliveries": 3 * len(names), "deliveries_per_s": 3 * len(names) / (done - start)}


def delivered(app: Any) -> int:
    from webhook import metrics

    return sum(int(metrics.DELIVERIES.labels(c, "delivered")._value.get()) for c in ("slack", "sms", "pagerduty"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--incidents", type=int, default=1000)
    ap.add_argument("--alerts-per-payload", type=int, default=5)
    ap.add_argument("--db", default="sqlite")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/bench.db" if args.db == "sqlite" else args.db
        r = asyncio.run(bench(args.incidents, args.alerts_per_payload, db, Path(tmp)))
    print(f"machine: {platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}, "
          f"db {args.db}")
    print(f"{r['incidents']:.0f} incidents in {args.incidents // args.alerts_per_payload} webhooks, "
          f"accepted in {r['accepted_s']:.2f} s")
    print(f"webhook -> first notification request: p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, "
          f"max {r['max_ms']:.0f} ms")
    print(f"step-1 deliveries (PagerDuty + Slack + SMS): {r['deliveries']:.0f}, {r['deliveries_per_s']:.0f}/s")


if __name__ == "__main__":
    main()
