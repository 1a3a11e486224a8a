"""Benchmark of graphs in pages: render time, and page latency with graphs on and off (docs/benchmarks.md).

Usage: python bench/graphs.py [--renders N] [--pages N] [--rounds R] [--settle S] [--examples DIR]

1. Render: N renders of a 24 h series at a 30 s step (2,880 points, threshold, firing span) through
   webhook.graphs.render, p50/p95/max, beside two references in the same run: the same figure with a 1 h series
   (120 points), and matplotlib saving an empty axes of the same size (the floor of any Agg PNG).
2. Page latency: the app in-process (real clock) with the fake Slack and a real Prometheus scraping a test
   exporter; webhooks posted one after the other, each the moment the page before it reached the fake Slack
   (so the previous incident's graph is being fetched, rendered and uploaded while the next page goes out).
   Then again with a pause of 0.5 s between pages (each page's graph mostly done before the next page).
   Latency = webhook sent -> chat.postMessage received by the fake Slack (in a child process, as the real
   Slack is elsewhere too). Graphs off and on alternate in rounds, so both see the same load of the shared
   machine; each round starts a service and sends its first page --settle seconds (3) later.

--examples DIR writes the example images of docs/graphs.md (deterministic data) and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from starlette.responses import Response

from tests.fakes.server import Recorded
from tests.fakes.slack import FakeSlack
from tests.support.exporter import TestExporter
from tests.support.payloads import fp, payload
from tests.support.procs import start_prometheus
from webhook.app import build_asgi, create_app
from webhook.config import TocsinConfig
from webhook.escalation.worker import EscalationWorker
from webhook.graphs.render import Chart, Line, render

TOKEN = "bench-webhook-token-0123456789"
#: Seconds between a service's start and its first page (--settle)
SETTLE = 3.0
END = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def series(hours: float, step: float = 30.0, seed: int = 7) -> Line:
    """A daily-looking queue: a baseline with noise, then a climb through the threshold in the last 40 min."""
    rnd = np.random.default_rng(seed)
    t = np.arange((END - timedelta(hours=hours)).timestamp(), END.timestamp() + 1, step)
    day = 40 + 25 * np.sin((t - t[0]) / 86400 * 2 * np.pi)
    climb = np.clip((t - (END.timestamp() - 2400)) / 2400, 0, None) * 160
    return Line("", t, day + rnd.normal(0, 4, t.size) + climb)


def chart(hours: float) -> Chart:
    return Chart(title="CeleryQueueBacklog · namespace=erp, queue=orders", start=END - timedelta(hours=hours),
                 end=END, series=[series(hours)], threshold=100, threshold_label="> 100",
                 firing=(END - timedelta(minutes=25), None))


def empty_png() -> bytes:
    fig = Figure(figsize=(8, 4), dpi=100)
    canvas = FigureCanvasAgg(fig)
    fig.add_subplot()
    buf = io.BytesIO()
    canvas.print_png(buf)  # type: ignore[no-untyped-call]
    return buf.getvalue()


def timed(fn: Callable[[], object], n: int) -> dict[str, float]:
    fn()  # warm: fonts, caches
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return {"p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95)), "max": max(times)}


def examples(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "graph-example.png").write_bytes(render(chart(6)).png)
    now = END
    t = np.arange((now - timedelta(hours=8)).timestamp(), now.timestamp() + 1, 60.0)
    rnd = np.random.default_rng(3)
    v = 0.55 + 0.25 * (t - t[0]) / (t[-1] - t[0]) + rnd.normal(0, 0.004, t.size)
    v = v - np.where((t - t[0]) % 10800 < 600, 0.02, 0)  # a log rotation now and then
    forecast = Chart(title="PVCFillingUp · namespace=erp, persistentvolumeclaim=data · forecast",
                     start=now - timedelta(hours=8), end=now, series=[Line("", t, v)], threshold=0.9,
                     threshold_label="0.9", projection=((now, float(v[-1])), (now + timedelta(hours=3), 0.9)),
                     interval=(now + timedelta(hours=2), now + timedelta(hours=5)),
                     note="0.9 reached ~Mon 15:00 (level 0.80)")
    (out / "graph-forecast-example.png").write_bytes(render(forecast).png)
    print(f"wrote {out / 'graph-example.png'} and {out / 'graph-forecast-example.png'}")


# --- page latency -------------------------------------------------------------------------------------------
class StampedSlack(FakeSlack):
    """The fake Slack, telling the parent when each top-level page arrives (by its alert name in the text)."""

    def __init__(self, out: Connection) -> None:
        super().__init__()
        self.out = out

    def _post(self, channel: str, text: str, rec: Recorded) -> Response:
        if rec.param("thread_ts") is None:
            for word in text.replace("]", " ").split():
                if word.startswith("GraphBench"):
                    self.out.send((word.rstrip(".:,"), time.perf_counter()))  # CLOCK_MONOTONIC: one clock for all
        return super()._post(channel, text, rec)


def serve_slack(ctl: Connection, out: Connection) -> None:
    """Child process: the fake Slack (its contract checks and the uploads cost CPU: not on the service's GIL)."""
    with StampedSlack(out) as fake:
        ctl.send(fake.base_url)
        while (cmd := ctl.recv()) != "stop":
            if cmd == "reset":
                fake.reset()
                ctl.send(None)
            elif cmd == "files":
                ctl.send(len(fake.shared_files()))


class Slack:
    """The parent's handle on the child's fake Slack."""

    def __init__(self) -> None:
        self.ctl, child_ctl = multiprocessing.Pipe()
        self.arrivals, child_out = multiprocessing.Pipe(duplex=False)
        self.proc = multiprocessing.get_context("spawn").Process(target=serve_slack, args=(child_ctl, child_out),
                                                                 daemon=True)
        self.proc.start()
        self.base_url: str = self.ctl.recv()
        self.arrived: dict[str, float] = {}

    def ask(self, cmd: str) -> Any:
        self.ctl.send(cmd)
        return self.ctl.recv()

    def poll(self) -> None:
        while self.arrivals.poll():
            name, at = self.arrivals.recv()
            self.arrived.setdefault(name, at)

    def stop(self) -> None:
        self.ctl.send("stop")
        self.proc.join(10)


def config(var: Path, slack: Slack, prom_url: str, graphs: bool) -> TocsinConfig:
    return TocsinConfig(
        server={"var_dir": str(var)}, database={"url": f"sqlite:///{var / 'bench.db'}"},
        auth={"webhook": {"bearer_tokens": [TOKEN]}, "api_tokens": [{"name": "bench", "token": TOKEN + "-api"}]},
        channels={"slack": {"token": "xoxb-test-token", "signing_secret": "s", "base_url": slack.base_url}},
        escalation={"noise": {"storm_threshold": 0},
                    "policies": [{"name": "page", "steps": [{"targets": [{"slack": "#ops"}]}]}],
                    "route": {"policy": "page"}},
        prometheus={"url": prom_url}, graphs={"enabled": graphs, "channels": ["slack"], "min_window": "10m"},
    )


def bench_alert(name: str) -> dict[str, Any]:
    labels = {"alertname": name, "queue": "orders", "severity": "high"}
    expr = 'max by (queue) (tocsin_bench_queue_length) > 100'
    return {"status": "firing", "labels": labels, "annotations": {"summary": f"{name} backlog"},
            "startsAt": (datetime.now(UTC) - timedelta(minutes=2)).isoformat(), "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": f"http://prometheus/graph?g0.expr={quote(expr)}", "fingerprint": fp(labels)}


async def pages(slack: Slack, prom_url: str, graphs: bool, n: int, tag: str,
                pace: float) -> tuple[list[float], int]:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(config(Path(tmp), slack, prom_url, graphs), tick_seconds=1.0)
        async with app.router.lifespan_context(app):
            # both configurations alike: the service's start-up is over (with graphs, the render process is
            # spawned with the service and loads matplotlib, fonts and pandas, ~1.5 s of CPU at nice 19)
            await asyncio.sleep(SETTLE)
            transport = httpx.ASGITransport(app=build_asgi(app))
            lat: list[float] = []
            async with httpx.AsyncClient(transport=transport, base_url="http://tocsin") as client:
                for i in range(n):
                    name = f"GraphBench{tag}x{i}"
                    if pace and i:
                        await asyncio.sleep(pace)  # the graph of the page before is done or nearly
                    sent = time.perf_counter()
                    r = await client.post("/webhook/alertmanager", json=payload(bench_alert(name)),
                                          headers={"Authorization": f"Bearer {TOKEN}"})
                    r.raise_for_status()
                    deadline = time.monotonic() + 30
                    while name not in slack.arrived and time.monotonic() < deadline:
                        await asyncio.sleep(0.002)
                        slack.poll()
                    if name not in slack.arrived:
                        raise TimeoutError(f"no page for {name}")
                    lat.append((slack.arrived[name] - sent) * 1000)
            worker = next(w for w in app.state.svc.workers if isinstance(w, EscalationWorker))
            await worker.sent()  # the last page's delivery recorded: its graph follow-up has started
            if worker.graphs is not None:
                await worker.graphs.idle()
        return lat, int(slack.ask("files"))


async def has_samples(url: str, query: str) -> None:
    """Until Prometheus has scraped the exporter a few times (a graph needs history)."""
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            r = (await client.get(f"{url}/api/v1/query", params={"query": query})).json()
            if r["data"]["result"]:
                return
            await asyncio.sleep(0.1)
    raise TimeoutError(query)


def summary(lat: list[float]) -> str:
    return (f"p50 {np.percentile(lat, 50):.1f} ms, p95 {np.percentile(lat, 95):.1f} ms, "
            f"max {max(lat):.1f} ms (n={len(lat)})")


async def latency(n: int, rounds: int) -> None:
    exporter = TestExporter()
    exporter.set('tocsin_bench_queue_length{queue="orders"}', 500)
    slack = Slack()
    with tempfile.TemporaryDirectory() as tmp:
        prom = start_prometheus(Path(tmp) / "prometheus", scrape_targets=[exporter.target])
        try:
            await has_samples(prom.url, "count_over_time(tocsin_bench_queue_length[1m]) >= 3")
            for pace in (0.0, 0.5):
                off: list[float] = []
                on: list[float] = []
                uploads = 0
                for r in range(rounds):
                    for graphs in ((False, True) if r % 2 == 0 else (True, False)):
                        slack.ask("reset")
                        tag = f"p{int(pace * 10)}r{r}g{int(graphs)}"
                        got, shared = await pages(slack, prom.url, graphs, n, tag, pace)
                        (on if graphs else off).extend(got)
                        uploads += shared if graphs else 0
                        assert graphs or shared == 0
                how = "back to back" if not pace else f"one every {pace:g} s"
                print(f"pages {how}, graphs off: {summary(off)}")
                print(f"pages {how}, graphs on:  {summary(on)}  ({uploads} graphs uploaded into the threads)")
        finally:
            prom.stop()
            exporter.close()
            slack.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--renders", type=int, default=200)
    ap.add_argument("--pages", type=int, default=20, help="pages per configuration and round")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--examples", type=Path, help="write the docs' example images into this directory and exit")
    ap.add_argument("--settle", type=float, default=SETTLE, help="seconds from each service's start to its first page")
    args = ap.parse_args()
    globals()["SETTLE"] = args.settle
    if args.examples:
        examples(args.examples)
        return
    load = os.getloadavg()
    print(f"machine: {platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    day, hour = chart(24), chart(1)
    for label, fn in (("render 24 h at 30 s (2,881 points)", lambda: render(day)),
                      ("render 1 h at 30 s (121 points)", lambda: render(hour)),
                      ("empty axes, savefig only", empty_png)):
        r = timed(fn, args.renders)
        print(f"{label:40s} p50 {r['p50']:6.1f} ms  p95 {r['p95']:6.1f} ms  max {r['max']:6.1f} ms"
              f"  (n={args.renders})")
    asyncio.run(latency(args.pages, args.rounds))


if __name__ == "__main__":
    main()
