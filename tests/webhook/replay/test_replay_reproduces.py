"""The replay with the configuration that recorded a history reproduces its notification log exactly; a changed
policy shows the expected differences."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import make_url

from tests.support.escalation_env import Env, run
from tests.support.payloads import alert, payload
from webhook.config import TocsinConfig
from webhook.replay.compare import compare
from webhook.replay.engine import Page, Replay, recorded_pages
from webhook.store.db import Database


@contextlib.contextmanager
def no_network(allowed: int | None) -> Iterator[list[object]]:
    """Every socket connect but the one to the recording's database fails, and is listed."""
    attempts: list[object] = []
    real = socket.socket.connect

    def connect(sock: socket.socket, address: object) -> None:
        if allowed is not None and isinstance(address, tuple) and address[1] == allowed:
            return real(sock, address)
        attempts.append(address)
        raise OSError(f"the replay tried to connect to {address}")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", connect)
        mp.setattr(socket.socket, "connect_ex", connect)
        yield attempts


def _db_port(url: str) -> int | None:
    return make_url(url).port if url.startswith("postgresql") else None


async def fire(env: Env, status: str = "firing", **labels: str) -> None:
    r = await env.h.post_webhook(payload(alert(status=status, starts=env.h.clock() - timedelta(seconds=30),
                                               **labels)))
    assert r.status_code == 200, r.text


async def incident_of(env: Env, alertname: str) -> int:
    items = (await env.h.api("GET", "/api/v1/incidents", params={"limit": 100})).json()["incidents"]
    return int(next(i["id"] for i in items if i["labels"]["alertname"] == alertname))


async def record_history(env: Env) -> None:
    """Forty minutes of traffic: every escalation path the env's policies have, and people acting on it."""
    r = await env.h.api("POST", "/api/v1/windows", json={"matchers": ['alertname="Upgrade"'], "duration": "10m",
                                                         "comment": "db upgrade"})
    assert r.status_code == 201, r.text
    await fire(env, alertname="Upgrade", severity="high")  # held by the window: pages at its end, 10 min later
    await fire(env, alertname="DiskFull", severity="critical")  # PD, Slack, SMS; voice at 5m; SMS bob/carol at 10m
    await run(env.h, minutes=1, every=2)
    await fire(env, alertname="LatencyHigh", severity="high")  # Slack + schedule; SMS bob at 15m
    await fire(env, alertname="QueueSlow", severity="medium")  # outside active hours: deferred to Monday
    await fire(env, alertname="CertSoon", severity="low")  # digest at 09:00 Berlin
    await run(env.h, minutes=2, every=2)
    disk = await incident_of(env, "DiskFull")
    r = await env.h.api("POST", f"/api/v1/incidents/{disk}/ack")  # after the first SMS, before the call
    assert r.status_code == 200, r.text
    await fire(env, alertname="Flappy", severity="high")
    for _ in range(3):  # fires and resolves: flapping, one incident held open
        await run(env.h, minutes=1, every=2)
        await fire(env, status="resolved", alertname="Flappy", severity="high")
        await run(env.h, minutes=1, every=2)
        await fire(env, alertname="Flappy", severity="high")
    await run(env.h, minutes=1, every=2)
    latency = await incident_of(env, "LatencyHigh")
    r = await env.h.api("POST", f"/api/v1/incidents/{latency}/snooze", json={"duration": "5m"})
    assert r.status_code == 200, r.text
    await run(env.h, minutes=12, every=2)  # snooze ends, escalation resumes
    await fire(env, status="resolved", alertname="DiskFull", severity="critical")
    await run(env.h, minutes=15, every=2)


async def test_replay_reproduces_the_log_and_shows_a_policy_change(env: Env, db_url: str) -> None:
    """One recorded history (on SQLite and PostgreSQL), replayed twice: with the configuration that recorded it
    (every page matched, none missing, none extra) and with the high policy's second step at 3 instead of 15
    minutes (bob's SMS about LatencyHigh comes 3 minutes after it opened, which the recording never had)."""
    start = env.h.clock()
    await record_history(env)
    end = env.h.clock() + timedelta(minutes=1)
    data = env.h.cfg.model_dump(mode="python", by_alias=True)
    high = next(p for p in data["escalation"]["policies"] if p["name"] == "high")
    high["steps"][1]["after"] = timedelta(minutes=3)
    candidate = TocsinConfig(**data)
    source = Database.from_url(db_url)
    try:
        recorded = recorded_pages(source, start, end)
        with no_network(allowed=_db_port(db_url)) as attempts:  # nothing sent, no vendor or cluster reached
            same = Replay(env.h.cfg).run(source, start, end)
            changed = Replay(candidate).run(source, start, end)
    finally:
        source.close()
    assert attempts == []

    assert len([p for p in recorded if p.kind == "trigger"]) >= 8, recorded
    diff = compare(recorded, same.pages, {"alice": ZoneInfo("UTC")})
    assert diff.only_recorded == [] and diff.only_replayed == [] and diff.moved == 0, diff
    assert diff.matched == len(recorded) == len(same.pages) and diff.match_ratio == 1.0
    assert same.actions_applied == 2 and not same.actions_skipped
    # the maintenance window someone set is replayed too: Upgrade pages when it ends, 10 minutes in, both times
    for pages in (recorded, same.pages):
        first = min(p.due_at - p.incident[1] for p in pages if p.alertname == "Upgrade" and p.incident is not None)
        assert timedelta(minutes=10) <= first <= timedelta(minutes=10, seconds=5)

    def bob_sms(pages: list[Page]) -> list[timedelta]:
        return [p.due_at - p.incident[1] for p in pages if p.incident is not None and p.alertname == "LatencyHigh"
                and p.responder == "bob" and p.channel == "sms" and p.kind == "trigger"]

    # 3 minutes after opening, and again 3 minutes after the snooze ended (escalation restarts from step 1)
    assert [round(d.total_seconds()) for d in bob_sms(changed.pages)] == [180, 1020]
    assert all(d > timedelta(minutes=10) for d in bob_sms(recorded))
    moved = compare(recorded, changed.pages, {})
    assert not moved.identical
    assert any(p.responder == "bob" and p.alertname == "LatencyHigh" for p in moved.only_replayed) or moved.moved
    # everything that does not depend on the high policy's second step is unchanged
    high = ("LatencyHigh", "Flappy", "Upgrade")  # the incidents of the high policy
    others = [p for p in recorded if p.alertname not in high]
    assert others and compare(others, [p for p in changed.pages if p.alertname not in high], {}).identical


def test_the_network_guard_sees_a_connect() -> None:
    """The guard above is not vacuous: a connection attempt inside it fails and is listed."""
    with no_network(allowed=None) as attempts, pytest.raises(OSError, match="tried to connect"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    assert attempts == [("127.0.0.1", 9)]
