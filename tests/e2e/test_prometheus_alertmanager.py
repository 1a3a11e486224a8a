"""End to end with Debian's Prometheus and Alertmanager: a metric flips, the incident opens and resolves."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.exporter import TestExporter
from tests.support.procs import free_port, start_alertmanager, start_prometheus
from tests.support.tocsin_proc import WEBHOOK_TOKEN, Tocsin, alertmanager_config
from webhook.ingest.payload import parse_payload

pytestmark = pytest.mark.e2e
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alertmanager"

RULES = """
groups:
  - name: e2e
    rules:
      - alert: E2EServiceDown
        expr: tocsin_e2e_up == 0
        labels: {severity: critical, team: sre, service: checkout}
        annotations: {summary: "checkout {{ $labels.host }} is down", runbook_url: "docs/x.md"}
"""


def wait_for(what: str, cond: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll until cond() is truthy; the timeout only bounds a broken run, no assertion depends on speed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Recorder:
    """A second Alertmanager receiver that keeps the raw payloads."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        rec = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                rec.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def exporter() -> Iterator[TestExporter]:
    e = TestExporter()
    yield e
    e.close()


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    p = tmp_path / "webhook-token"
    p.write_text(WEBHOOK_TOKEN)
    return p


def incidents(tocsin: Tocsin, **params: Any) -> list[dict[str, Any]]:
    return list(tocsin.api("/api/v1/incidents", **params)["incidents"])


def test_metric_flip_opens_and_resolves_an_incident(tmp_path: Path, tocsin: Tocsin, exporter: TestExporter,
                                                    token_file: Path) -> None:
    recorder = Recorder()
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    for i in (1, 2):
        exporter.set(f'tocsin_e2e_up{{host="web-{i}"}}', 1)
    am = start_alertmanager(tmp_path / "am", alertmanager_config(tocsin, token_file, recorder_url=recorder.url))
    prom = start_prometheus(tmp_path / "prom", [exporter.target], [rules], [am.url.removeprefix("http://")])
    try:
        exporter.set('tocsin_e2e_up{host="web-1"}', 0)
        exporter.set('tocsin_e2e_up{host="web-2"}', 0)
        inc = wait_for("two alerts in one incident", lambda: [
            i for i in incidents(tocsin) if i["alert_count"] == 2])[0]
        assert inc["state"] == "triggered" and inc["severity"] == "critical"
        assert inc["labels"]["alertname"] == "E2EServiceDown" and inc["labels"]["service"] == "checkout"
        assert inc["title"].startswith("E2EServiceDown: checkout web-")
        exporter.set('tocsin_e2e_up{host="web-1"}', 1)
        wait_for("one alert resolved", lambda: incidents(tocsin)[0]["firing_alerts"] == 1)
        exporter.set('tocsin_e2e_up{host="web-2"}', 1)
        done = wait_for("incident resolved", lambda: [i for i in incidents(tocsin) if i["state"] == "resolved"])
        assert len(done) == 1 and len(incidents(tocsin)) == 1
        detail = tocsin.api(f"/api/v1/incidents/{done[0]['id']}")
        assert {a["labels"]["host"] for a in detail["alerts"]} == {"web-1", "web-2"}
        assert all(a["status"] == "resolved" for a in detail["alerts"])
    finally:
        prom.stop()
        am.stop()
        recorder.close()
    # Real payloads from this run: each parses, and they can be kept as fixtures.
    assert recorder.bodies
    for body in recorder.bodies:
        parse_payload(body)
    if os.environ.get("TOCSIN_RECORD_FIXTURES"):
        FIXTURES.mkdir(parents=True, exist_ok=True)
        kinds: dict[str, bytes] = {}
        for body in recorder.bodies:
            p = json.loads(body)
            n = len(p["alerts"])
            statuses = {a["status"] for a in p["alerts"]}
            kind = ("grouped-" if n > 1 else "") + ("mixed" if len(statuses) > 1 else statuses.pop())
            kinds.setdefault(kind, body)
        for kind, body in kinds.items():
            (FIXTURES / f"{kind}.json").write_text(json.dumps(json.loads(body), indent=2) + "\n")


def test_alertmanager_ha_pair_yields_one_incident(tmp_path: Path, tocsin: Tocsin, exporter: TestExporter,
                                                  token_file: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    exporter.set('tocsin_e2e_up{host="db-1"}', 1)
    cfg = alertmanager_config(tocsin, token_file)
    p1, p2 = free_port(), free_port()
    am1 = start_alertmanager(tmp_path / "am1", cfg, peers=[f"127.0.0.1:{p2}"], cluster_port=p1)
    am2 = start_alertmanager(tmp_path / "am2", cfg, peers=[f"127.0.0.1:{p1}"], cluster_port=p2)
    targets = [am1.url.removeprefix("http://"), am2.url.removeprefix("http://")]
    prom = start_prometheus(tmp_path / "prom", [exporter.target], [rules], targets)
    try:
        exporter.set('tocsin_e2e_up{host="db-1"}', 0)
        wait_for("incident", lambda: incidents(tocsin))
        # keep firing for a while: both peers get the alert from Prometheus every second
        time.sleep(5)
        found = incidents(tocsin)
        assert len(found) == 1 and found[0]["alert_count"] == 1
        exporter.set('tocsin_e2e_up{host="db-1"}', 1)
        wait_for("resolved", lambda: incidents(tocsin)[0]["state"] == "resolved")
        assert len(incidents(tocsin)) == 1
    finally:
        prom.stop()
        am1.stop()
        am2.stop()
