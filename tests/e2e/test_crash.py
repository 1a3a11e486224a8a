"""SIGKILL under load: every alert answered with 2xx survives, and redelivery creates no duplicates."""

from __future__ import annotations

import os
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from tests.support.payloads import alert, payload
from tests.support.procs import wait_http
from tests.support.tocsin_proc import WEBHOOK_TOKEN, make_tocsin
from webhook.incidents.tables import alerts, incidents

pytestmark = pytest.mark.e2e
START = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def make_payloads(n: int) -> list[dict[str, Any]]:
    return [payload(*(alert(alertname=f"Crash{i}", pod=f"pod-{j}", starts=START) for j in range(10)))
            for i in range(n)]


def post_all(url: str, bodies: list[tuple[int, dict[str, Any]]], acked: set[int], stop: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
    with httpx.Client(timeout=5) as client:
        for idx, body in bodies:
            if stop.is_set():
                return
            try:
                r = client.post(url, json=body, headers=headers)
            except httpx.HTTPError:
                stop.set()  # the server is gone
                return
            if r.status_code == 200:
                acked.add(idx)


def start_load(url: str, bodies: list[dict[str, Any]], acked: set[int],
               stop: threading.Event) -> list[threading.Thread]:
    """Four sequential posters, like Alertmanager's concurrent notifications; `acked` collects the 200s."""
    threads = [threading.Thread(target=post_all, args=(url, list(enumerate(bodies))[k::4], acked, stop))
               for k in range(4)]
    for th in threads:
        th.start()
    return threads


def test_sigkill_loses_no_acknowledged_alert_and_redelivery_dedups(tmp_path: Path) -> None:
    db_path = tmp_path / "crash.db"
    t = make_tocsin(tmp_path / "tocsin", f"sqlite:///{db_path}")
    t.start()
    bodies = make_payloads(1200)
    acked: set[int] = set()
    stop = threading.Event()
    url = t.url + "/webhook/alertmanager"
    threads = start_load(url, bodies, acked, stop)
    # kill once a few hundred payloads were acknowledged, while requests are in flight
    deadline = threading.Event()
    while len(acked) < 300 and not stop.is_set():
        deadline.wait(0.01)
    t.stop(signal.SIGKILL)
    for th in threads:
        th.join(30)
    assert 300 <= len(acked) < len(bodies), "the kill must land mid-load"
    acked_snapshot = set(acked)

    engine = create_engine(f"sqlite:///{db_path}")
    with engine.connect() as conn:
        stored = {r[0] for r in conn.execute(select(alerts.c.labels["alertname"].as_string()))}
    for idx in acked_snapshot:
        assert f"Crash{idx}" in stored, f"payload {idx} was acknowledged but is missing after SIGKILL"

    t.start()  # restart on the same database
    try:
        with httpx.Client(timeout=10) as client:
            for body in bodies:  # Alertmanager's retry burst: everything again, acked or not
                r = client.post(url, json=body, headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
                assert r.status_code == 200
    finally:
        t.stop()
    with engine.connect() as conn:
        n_alerts = conn.execute(select(func.count()).select_from(alerts)).scalar_one()
        n_incidents = conn.execute(select(func.count()).select_from(incidents)).scalar_one()
        max_per_incident = conn.execute(select(func.max(incidents.c.alert_count))).scalar_one()
    engine.dispose()
    assert n_alerts == 10 * len(bodies)
    assert n_incidents == len(bodies) and max_per_incident == 10


def test_sigkill_of_the_ingest_process_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """The child that commits dies under load: acknowledged payloads are stored, the rest got 503, a new child
    takes over, and Alertmanager's retries of everything create no duplicates."""
    db_path = tmp_path / "child.db"
    t = make_tocsin(tmp_path / "tocsin", f"sqlite:///{db_path}")
    t.start()
    try:
        assert t.proc is not None
        children = Path(f"/proc/{t.proc.popen.pid}/task/{t.proc.popen.pid}/children").read_text().split()
        assert len(children) == 1, children
        child = int(children[0])
        bodies = make_payloads(800)
        acked: set[int] = set()
        stop = threading.Event()
        url = t.url + "/webhook/alertmanager"
        threads = start_load(url, bodies, acked, stop)
        while len(acked) < 200:
            stop.wait(0.01)
        os.kill(child, signal.SIGKILL)
        for th in threads:
            th.join(60)
        assert 200 <= len(acked) < len(bodies), "some payloads must have been refused while the child was down"
        engine = create_engine(f"sqlite:///{db_path}")
        with engine.connect() as conn:
            stored = {r[0] for r in conn.execute(select(alerts.c.labels["alertname"].as_string()))}
        for idx in acked:
            assert f"Crash{idx}" in stored, f"payload {idx} was acknowledged but is missing"
        wait_http(t.proc, t.url + "/readyz", timeout=60)  # a new child is up
        with httpx.Client(timeout=10) as client:
            for body in bodies:
                r = client.post(url, json=body, headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
                assert r.status_code == 200
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(alerts)).scalar_one() == 10 * len(bodies)
            assert conn.execute(select(func.count()).select_from(incidents)).scalar_one() == len(bodies)
        engine.dispose()
    finally:
        t.stop()
