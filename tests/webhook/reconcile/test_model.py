"""Randomised model test against a real Alertmanager HA pair: seeded sequences of fire, resolve, silence, expire,
truncated webhooks (max_alerts: 2), Alertmanager restarts with their data deleted, and Prometheus-style resends.

After every step the reconciler polls twice (by hand, no waiting for intervals) and then:
  1. every incident open in Tocsin has a firing alert Alertmanager still lists for Tocsin's receiver
     (closed within two polls once Alertmanager dropped its alerts),
  2. every alert Alertmanager lists as active for the receiver is on an open incident (adopted),
and the pair lists exactly what the model says it should (the steps did happen).

A failing seed replays alone: `-k "seed-<n>"`. Soak: TOCSIN_RECONCILE_SOAK=<more seeds>,
TOCSIN_RECONCILE_STEPS=<steps per seed> (default 15).
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.support.procs import free_port
from tests.webhook.reconcile.amenv import (
    AM,
    Served,
    am_config,
    expire,
    firing,
    listing,
    now,
    pair,
    post_alerts,
    resolved,
    serve_tocsin,
    silence,
    wait_for,
)

pytestmark = [pytest.mark.e2e]  # make test installs Debian's prometheus-alertmanager (scripts/sysdeps.sh)

STEPS = int(os.environ.get("TOCSIN_RECONCILE_STEPS", "15"))
SOAK = int(os.environ.get("TOCSIN_RECONCILE_SOAK", "0"))
#: (database, seed): three seeds in `make test`, one of them on PostgreSQL; a soak adds seeds on SQLite
CASES = [("sqlite", 101), ("sqlite", 202), ("postgres", 303)] + [("sqlite", 1000 + i) for i in range(SOAK)]
GROUPS = ("Disk", "Cpu", "Mem")


@pytest.fixture(params=CASES, ids=[f"{db}-seed-{seed}" for db, seed in CASES])
def case(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, int]:
    db, seed = request.param
    url = f"sqlite:///{tmp_path / 'tocsin.db'}" if db == "sqlite" else str(request.getfixturevalue("fresh_pg_url"))
    return url, int(seed)


@dataclass
class Model:
    """What the sender (Prometheus) has firing, what each Alertmanager of the pair holds, the silences."""

    rnd: random.Random
    sender: dict[str, tuple[dict[str, str], datetime]] = field(default_factory=dict)
    held: list[set[str]] = field(default_factory=lambda: [set(), set()])
    silences: dict[str, str] = field(default_factory=dict)  # silence id -> alert name
    serial: int = 0

    def expected(self) -> set[frozenset[tuple[str, str]]]:
        return {frozenset(self.sender[n][0].items()) for n in set().union(*self.held)}


async def step(kind: str, m: Model, ams: Sequence[AM]) -> str:
    r = m.rnd
    if kind == "fire":  # bursts of one group beyond max_alerts: truncated webhooks
        group, names = r.choice(GROUPS), []
        for _ in range(r.randint(1, 4)):
            m.serial += 1
            name = f"a{m.serial}"
            m.sender[name] = ({"alertname": group, "instance": name, "severity": "high"},
                              now() - timedelta(seconds=r.randint(1, 30)))
            names.append(name)
        other = {"alertname": group, "instance": f"o{m.serial}", "team": "other"}  # not Tocsin's receiver
        await post_alerts(ams, [firing(*m.sender[n]) for n in names] + [firing(other, now())])
        for h in m.held:
            h.update(names)
        return f"fire {group} {names}"
    if kind == "resolve" and m.sender:
        names = r.sample(sorted(m.sender), r.randint(1, min(3, len(m.sender))))
        await post_alerts(ams, [resolved(*m.sender.pop(n)) for n in names])
        for h in m.held:
            h.difference_update(names)
        return f"resolve {names}"
    if kind == "silence" and (live := sorted(set().union(*m.held))):
        name = r.choice(live)
        sid = await silence(r.choice(ams), {"instance": name}, comment=f"silence {name}")
        m.silences[sid] = name
        return f"silence {name}"
    if kind == "expire" and m.silences:
        sid = r.choice(sorted(m.silences))
        await expire(ams[0], sid)
        return f"expire silence of {m.silences.pop(sid)}"
    if kind == "restart":  # one Alertmanager, data deleted: it has no alerts (silences come back by gossip)
        i = r.randrange(len(ams))
        ams[i].restart(wipe=True)
        m.held[i].clear()
        return f"restart am{i} wiped"
    if kind == "restart_all":  # the whole pair, data deleted: every alert and silence gone
        for am in ams:
            am.stop()
        for am in ams:
            am.restart(wipe=True)
        for h in m.held:
            h.clear()
        m.silences.clear()
        return "restart pair wiped"
    if kind == "resend" and m.sender:  # Prometheus resends what fires, with its old startsAt
        await post_alerts(ams, [firing(*v) for v in m.sender.values()])
        for h in m.held:
            h.update(m.sender)
        return "resend"
    return "nothing"


KINDS = ["fire"] * 4 + ["resolve"] * 3 + ["silence", "expire", "restart", "restart_all", "resend", "resend"]


def next_kind(m: Model) -> str:
    """A step that can happen now (nothing to resolve, silence or expire: another one)."""
    possible = {"fire", "restart", "restart_all",
                *(["resolve", "resend"] if m.sender else []),
                *(["silence"] if set().union(*m.held) else []),
                *(["expire"] if m.silences else [])}
    return m.rnd.choice([k for k in KINDS if k in possible])


async def check(t: Served, m: Model, ams: Sequence[AM], log: list[str]) -> None:
    listed = await listing(ams)
    where = f"after {log}"
    assert {frozenset(a["labels"].items()) for a in listed.values()} == m.expected(), where
    open_incidents = await t.open_incidents()
    for iid, keys in open_incidents.items():
        assert any(k in listed for k in keys), f"incident {iid} is open with no alert Alertmanager lists, {where}"
    on_open = {k for keys in open_incidents.values() for k in keys}
    for key, a in listed.items():
        if a["status"]["state"] == "active":
            assert key in on_open, f"{a['labels']} fires in Alertmanager but is on no open incident, {where}"


async def settled(ams: Sequence[AM]) -> bool:
    return all(a["status"]["state"] != "unprocessed" for a in (await listing(ams)).values())


@pytest.fixture
async def rig(case: tuple[str, int], tmp_path: Path) -> AsyncIterator[tuple[Served, list[AM], int]]:
    db_url, seed = case
    port = free_port()
    ams = pair(tmp_path, am_config(port, max_alerts=2))
    for am in ams:
        am.start()
    try:
        async with serve_tocsin(db_url, tmp_path, port, [am.url for am in ams]) as served:
            yield served, ams, seed
    finally:
        for am in ams:
            am.stop()


async def test_no_incident_outlives_its_alerts_and_no_firing_alert_is_left_out(
        rig: tuple[Served, list[AM], int]) -> None:
    t, ams, seed = rig
    m = Model(random.Random(seed))
    log: list[str] = []
    for _ in range(STEPS):
        log.append(await step(next_kind(m), m, ams))
        await wait_for("Alertmanager to process the alerts", lambda: settled(ams))
        await t.two_polls()
        await check(t, m, ams, [f"seed {seed}", *log])
    await post_alerts(ams, [resolved(*v) for v in m.sender.values()])
    m.sender.clear()
    for h in m.held:
        h.clear()
    await t.two_polls()
    assert await t.open_incidents() == {}, f"seed {seed}: open incidents after everything resolved, after {log}"
