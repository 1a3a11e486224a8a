"""A page with its graph, end to end: a real Prometheus with a rule firing, the alert's webhook, the page in the
fake Slack first, then the graph in its thread (decoded and checked from its pixels); e-mail over real SMTP;
Prometheus down or the upload refused: the page is there, the timeline says why there is no graph; the console."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import pytest

from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio
from tests.support.clock import FakeClock
from tests.support.escalation_env import esc_config, tick_and_send
from tests.support.exporter import TestExporter
from tests.support.harness import Harness, start_harness
from tests.support.payloads import fp, payload
from tests.support.procs import Proc, free_port, start_prometheus
from tests.support.smtp import Inbox
from tests.webhook.graphs.pixels import decode, has_text, matches
from webhook.config import TocsinConfig
from webhook.config.graphs import GraphsConfig
from webhook.config.prometheus import PrometheusConfig
from webhook.escalation.worker import EscalationWorker
from webhook.graphs.render import FIRING_COLOUR, SERIES_COLOURS, THRESHOLD_COLOUR

SERIES = 'tocsin_graph_queue_length{queue="orders"}'
EXPR = 'max by (queue) (tocsin_graph_queue_length) > 100'
RULES = """groups:
- name: graphs
  rules:
  - alert: GraphQueueBacklog
    expr: max by (queue) (tocsin_graph_queue_length) > 100
    labels: {severity: high}
"""


@pytest.fixture(scope="module")
def exporter() -> Iterator[TestExporter]:
    exp = TestExporter()
    yield exp
    exp.close()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, exporter: TestExporter) -> Iterator[Proc]:
    """Prometheus scraping the exporter every second; the backlog is 20 for a few samples, then 500 (firing)."""
    work = tmp_path_factory.mktemp("prometheus")
    (work / "rules.yml").write_text(RULES)
    exporter.set(SERIES, 20)
    proc = start_prometheus(work, scrape_targets=[exporter.target], rule_files=[work / "rules.yml"])
    try:
        _wait(proc.url, f"count_over_time({SERIES}[1m]) >= 4", lambda r: bool(r["data"]["result"]))
        exporter.set(SERIES, 500)
        # firing for 3 s at least: the firing span is then wider than a few pixels in a 1 min graph
        _wait(proc.url, 'time() - ALERTS_FOR_STATE{alertname="GraphQueueBacklog"} > 3',
              lambda r: bool(r["data"]["result"]))
        yield proc
    finally:
        proc.stop()


def _wait(url: str, query: str, done: Any) -> None:
    """Poll a condition of the real Prometheus (1 s scrape and evaluation), bounded."""
    for _ in range(300):
        r = httpx.get(f"{url}/api/v1/query", params={"query": query}, timeout=2).json()
        if r["status"] == "success" and done(r):
            return
        threading.Event().wait(0.1)  # a short pause between polls; nothing depends on its length
    raise TimeoutError(query)


def firing_alert(prom_url: str) -> dict[str, Any]:
    """The alert as Alertmanager would send it: labels and start from Prometheus, its generatorURL. Firing for 3 s at
    least now, not only when the module started: a scrape missed on a loaded machine resolves the alert and the next
    one starts it again (a new activeAt, a firing span of a pixel or two)."""
    _wait(prom_url, 'time() - ALERTS_FOR_STATE{alertname="GraphQueueBacklog"} > 3', lambda r: bool(r["data"]["result"]))
    (active,) = httpx.get(f"{prom_url}/api/v1/alerts", timeout=2).json()["data"]["alerts"]
    labels = dict(active["labels"])
    return {"status": "firing", "labels": labels, "annotations": {"summary": "orders backlog"},
            "startsAt": active["activeAt"], "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": f"{prom_url}/graph?g0.expr={quote(EXPR)}&g0.tab=1", "fingerprint": fp(labels)}


def config(base: TocsinConfig, prom_url: str, **graphs: Any) -> TocsinConfig:
    g = {"min_window": "1m", "retry_delay": "0s", **graphs}
    return base.model_copy(update={"prometheus": PrometheusConfig(url=prom_url), "graphs": GraphsConfig(**g)})


POLICY = {"policies": [{"name": "page", "steps": [{"targets": [{"slack": "#ops"}, {"email": "ops@example.com"}]}]}],
          "route": {"policy": "page"}}


@pytest.fixture
async def service(tmp_path: Path, fake_slack: FakeSlack, fake_twilio: FakeTwilio, fake_pagerduty: FakePagerDuty,
                  smtp: tuple[Inbox, int], request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    prom_url, graphs = request.param if hasattr(request, "param") else ("prometheus", {})
    if prom_url == "prometheus":
        prom_url = request.getfixturevalue("prometheus").url
    base = esc_config(f"sqlite:///{tmp_path / 'tocsin.db'}", tmp_path, fake_slack, fake_twilio, fake_pagerduty,
                      smtp_port=smtp[1], **POLICY)
    async for h in start_harness(config(base, prom_url, **graphs), FakeClock(datetime.now(UTC))):
        yield h


def worker(h: Harness) -> EscalationWorker:
    return next(w for w in h.app.state.svc.workers if isinstance(w, EscalationWorker))


async def page(h: Harness, alert: dict[str, Any]) -> int:
    """The webhook, the page, then every graph follow-up finished (they run after the pages, on their own)."""
    h.clock.current = datetime.now(UTC)
    r = await h.post_webhook(payload(alert))
    assert r.status_code == 200, r.text
    await tick_and_send(h.app.state.svc)
    w = worker(h)
    assert w.graphs is not None
    await w.graphs.idle()
    (inc,) = (await h.api("GET", "/api/v1/incidents")).json()["incidents"]
    return int(inc["id"])


async def timeline(h: Harness, iid: int) -> list[str]:
    got = (await h.api("GET", f"/api/v1/incidents/{iid}")).json()["timeline"]
    return [e["detail"]["text"] for e in got if e["kind"] == "graph"]


def check_graph(png: bytes) -> None:
    """The graph of the e2e rule: the series (20, then 500), the threshold line, the firing span, a title."""
    px = decode(png)
    assert px.shape == (400, 800, 3)
    plot = px[40:340, 80:775]
    assert matches(plot, SERIES_COLOURS[0]).sum() > 100  # the line
    rows = matches(plot, THRESHOLD_COLOUR).sum(axis=1)
    assert rows.max() > 300  # one row nearly across the plot: the dashed threshold at 100
    # the span since the alert fired: it reaches the right edge (still firing); the window is at least the alert's
    # age plus a fifth, so its first sixth is before the alert fired, however long the module has been running. How
    # wide the span is depends on the alert's age against graphs.min_window (a loaded machine starts the test soon
    # after Prometheus fired it: a span of a few pixels), so only its right edge is checked.
    # The crop is fixed, the axes are laid out around the tick labels: the right spine may fall on its last column.
    firing = matches(plot, FIRING_COLOUR, 12).mean(axis=0)
    assert (firing[-4:] > 0.5).sum() >= 2 and firing[: len(firing) // 8].max() == 0.0, \
        (firing[-6:], firing[: len(firing) // 8].max(), np.flatnonzero(firing > 0.5)[:3])  # grid lines cross it
    assert has_text(px, 70, 600, 5, 35)  # the title


@pytest.mark.parametrize("service", [("prometheus", {"channels": ["slack"]})], indirect=True)
async def test_the_page_goes_out_first_then_the_graph_in_its_thread(
        service: Harness, prometheus: Proc, fake_slack: FakeSlack) -> None:
    iid = await page(service, firing_alert(prometheus.url))
    (parent,) = fake_slack.top_level()
    assert "GraphQueueBacklog" in parent.text or "orders" in parent.text
    paths = [r.path for r in fake_slack.requests]
    assert paths.index("/api/chat.postMessage") < paths.index("/api/files.getUploadURLExternal")
    assert fake_slack.violations == []
    (shared,) = parent.files
    assert shared.thread_ts == parent.ts and shared.data is not None
    assert "tocsin_graph_queue_length" in (shared.alt_txt or "") and "> 100" in (shared.alt_txt or "")
    check_graph(shared.data)
    assert await timeline(service, iid) == ["graph attached (slack)"]


@pytest.mark.parametrize("service", [("prometheus", {})], indirect=True)
async def test_the_email_page_is_followed_by_a_reply_with_the_graph_inline(
        service: Harness, prometheus: Proc, smtp: tuple[Inbox, int]) -> None:
    iid = await page(service, firing_alert(prometheus.url))
    inbox = smtp[0]
    first, reply = inbox.mails
    assert reply["In-Reply-To"] == first["Message-ID"] and reply["References"] == first["Message-ID"]
    html = reply.get_body(("html",))
    assert html is not None and html.get_content_type() == "text/html"
    (image,) = [p for p in reply.walk() if p.get_content_type() == "image/png"]
    cid = str(image["Content-ID"]).strip("<>")
    assert f'src="cid:{cid}"' in html.get_content()
    assert reply.get_body(("related",)) is not None or "multipart/related" in reply.as_string()
    check_graph(image.get_content())
    assert sorted(await timeline(service, iid)) == ["graph attached (email)", "graph attached (slack)"]


# one attempt, one channel: prometheus-api-client retries a refused connection with backoff (seconds each)
@pytest.mark.parametrize("service", [(f"http://127.0.0.1:{free_port()}", {"attempts": 1, "channels": ["slack"]})],
                         indirect=True)
async def test_prometheus_down_the_page_still_goes_and_the_timeline_says_so(
        service: Harness, fake_slack: FakeSlack, smtp: tuple[Inbox, int]) -> None:
    alert = firing_alert_offline()
    iid = await page(service, alert)
    assert len(fake_slack.top_level()) == 1 and len(smtp[0].mails) == 1  # the pages, no graph
    assert fake_slack.shared_files() == []
    (line,) = await timeline(service, iid)
    assert line.startswith("no graph: Prometheus unreachable: Prometheus at http://127.0.0.1:"), line
    r = await service.api("GET", f"/api/v1/incidents/{iid}/graph.png")
    assert r.status_code == 503 and r.json()["detail"].startswith("no graph: Prometheus unreachable")


def firing_alert_offline() -> dict[str, Any]:
    labels = {"alertname": "GraphQueueBacklog", "queue": "orders", "severity": "high"}
    return {"status": "firing", "labels": labels, "annotations": {}, "startsAt": datetime.now(UTC).isoformat(),
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": f"http://prom/graph?g0.expr={quote(EXPR)}",
            "fingerprint": fp(labels)}


@pytest.mark.parametrize("service", [("prometheus", {"channels": ["slack"], "attempts": 2,
                                                     "isolate": False})], indirect=True)
async def test_slack_refusing_the_upload_leaves_the_page_and_says_so(
        service: Harness, prometheus: Proc, fake_slack: FakeSlack) -> None:
    fake_slack.upload_error = "internal_error"
    iid = await page(service, firing_alert(prometheus.url))
    (parent,) = fake_slack.top_level()
    assert parent.files == [] and fake_slack.violations == []
    assert len(fake_slack.calls("files.getUploadURLExternal")) == 2  # graphs.attempts
    assert await timeline(service, iid) == ["no graph: Slack upload failed: internal_error"]


@pytest.mark.parametrize("service", [("prometheus", {"channels": [], "isolate": False})], indirect=True)
async def test_the_console_serves_the_graph(service: Harness, prometheus: Proc) -> None:
    iid = await page(service, firing_alert(prometheus.url))
    r = await service.api("GET", f"/api/v1/incidents/{iid}/graph.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    check_graph(r.content)
    assert (await service.client.get(f"/api/v1/incidents/{iid}/graph.png")).status_code == 401
    assert (await service.api("GET", "/api/v1/incidents/999/graph.png")).status_code == 404
    script = (await service.client.get("/console/static/incident.js")).text  # the console's incident page
    assert "graph.png" in script and "incident.graph_alt" in script


@pytest.mark.parametrize("service", [("prometheus", {})], indirect=True)
async def test_an_alert_not_from_prometheus_has_no_graph_and_no_noise(
        service: Harness, fake_slack: FakeSlack) -> None:
    labels = {"alertname": "Heartbeat", "severity": "high"}
    iid = await page(service, {"status": "firing", "labels": labels, "annotations": {},
                               "startsAt": datetime.now(UTC).isoformat(), "endsAt": "0001-01-01T00:00:00Z",
                               "generatorURL": "", "fingerprint": fp(labels)})
    assert len(fake_slack.top_level()) == 1 and fake_slack.shared_files() == []
    assert await timeline(service, iid) == []
    r = await service.api("GET", f"/api/v1/incidents/{iid}/graph.png")
    assert r.status_code == 404 and "no alert of this incident came from Prometheus" in r.json()["detail"]
