"""Model-based concurrency test of incident state (issue 10, point 3): never silent, never twice.

A hypothesis state machine drives the real service (create_app with the fake clock and tick_seconds=0, the
in-process ingest path, a real SQLite or PostgreSQL database) through random interleavings of:

- webhook deliveries of three alert identities (a1 and a2 share an incident key, b has its own): a new firing
  episode, a firing repeat (Alertmanager's repeat_interval, sometimes with changed annotations), a resolve, an exact
  repeat of the last payload, a late replay of an older episode's firing (an HA peer lagging behind), an HA
  duplicate (the same payload twice at once, to one replica or to both) and a burst of several payloads at once;
- human ack / resolve / snooze through the API on an existing incident;
- the ticker (snooze wake-up, quiet-period resolve, due escalation steps, outbox drain) after advancing the clock,
  on one replica or on both at once;
- a restart of a replica (its app closed, a new one built on the same database);
- a human action racing an ingest, and a tick racing an ingest (asyncio.gather of both, on the same replica or two).

Two replicas share the database: that is what `tocsin serve` (HTTP process + ingest process) or a fleet of
replicas is, and it is where a human's write and Alertmanager's can really interleave (inside one replica every
write goes through its one writer thread).

After every step the invariants of the issue are checked against a small model kept here: which identities fire
(the last delivery of their newest episode), which incidents a human acked, resolved or snoozed:

1. every firing alert belongs to an open incident, and that incident is escalating (an active escalation run with
   a pending or held step, a page in the outbox, or a page delivered since it last became triggered),
   acknowledged by a human, or snoozed by a human. Exempt: an episode whose incident a human resolved while it
   fired (Alertmanager's further repeats of that episode are absorbed by design);
2. no resolved incident escalates: no active run, no pending, held or paused step, no page waiting in the outbox;
3. no acknowledgement is lost: an incident a human acked is acknowledged or resolved, unless it was resolved
   after the ack (then a new episode may re-open it) or the human snoozed it since;
4. no delivery (idempotency key) is sent twice;
5. no open incident is a zombie: it has a firing alert or a pending quiet-period resolve (an acknowledged
   incident whose alerts all resolved, but which stays open, swallows every later episode of its key).

`make test` runs a bounded, derandomized number of examples per backend; `make soak` runs many
(TOCSIN_SOAK_EXAMPLES) with fresh randomness and prints how many it ran. A race makes a failure flaky to replay:
hypothesis then reports FlakyFailure with the steps and the violation of the first run.

test_replay_human_resolve_then_flap_reopen replays, step by step, a sequence the model found that needs no race.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import Engine

from tests.support.clock import FakeClock
from tests.support.model_service import (
    Databases,
    PostgresDatabases,
    Replica,
    SendLog,
    SqliteDatabases,
    State,
    model_config,
    read_state,
    start_replica,
    utc,
)
from tests.support.payloads import alert, fp, payload
from webhook.store.db import make_engine

T = TypeVar("T")

HUMAN = "alice"  # the actor of the harness's API token
REPLICAS = 2
IDENTITIES: dict[str, dict[str, str]] = {
    "a1": {"alertname": "DiskFull", "service": "db", "pod": "db-0"},
    "a2": {"alertname": "DiskFull", "service": "db", "pod": "db-1"},  # same incident key as a1
    "b": {"alertname": "Latency", "service": "web", "pod": "web-0"},
}
OPEN = ("triggered", "acknowledged", "snoozed")
PAGES = ("trigger", "reminder", "storm_summary")
#: Seconds the clock may move before a tick: nothing, within a step, past step 2 (5 min), past the flap window
#: (10 min) and past the quiet period (15 min).
ADVANCE = (0, 20, 60, 301, 601, 901)

SOAK = int(os.environ.get("TOCSIN_SOAK_EXAMPLES", "0") or 0)
SETTINGS = settings(
    max_examples=SOAK or 25,
    stateful_step_count=30 if SOAK else 20,
    deadline=None,
    derandomize=not SOAK,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


class Violation(AssertionError):
    pass


@dataclass
class Identity:
    """What Alertmanager last said about one alert identity (fingerprint)."""

    labels: dict[str, str]
    starts: datetime | None = None  # startsAt of the newest episode
    firing: bool = False
    revision: int = 0  # annotations revision of the current episode
    last: dict[str, Any] | None = None  # the last alert JSON delivered
    older: list[datetime] = field(default_factory=list)  # startsAt of earlier episodes

    @property
    def fingerprint(self) -> str:
        return fp(alert(**self.labels)["labels"])


@dataclass
class Stats:
    examples: int = 0
    steps: int = 0
    sends: int = 0
    retries: int = 0
    states: dict[str, int] = field(default_factory=dict)


class TocsinMachine(RuleBasedStateMachine):
    dbs: ClassVar[Databases]
    stats: ClassVar[Stats]

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.replicas: list[Replica] = []
        self.engine: Engine | None = None
        self.url, self.workdir = self.dbs.new()
        self.clock = FakeClock()
        self.cfg = model_config(self.url, self.workdir)
        self.sends = SendLog()
        self.ids = {name: Identity(labels) for name, labels in IDENTITIES.items()}
        self.acked: set[int] = set()  # incidents whose last human ack is not yet followed by a resolve or snooze
        self.acked_ever: set[int] = set()
        self.snoozed_ever: set[int] = set()
        self.resolved_by_human: set[int] = set()
        #: (fingerprint, startsAt) of episodes that were firing in an incident when a human resolved it
        self.excused: set[tuple[str, datetime]] = set()
        self.last_state: dict[int, str] = {}
        self.since: dict[int, datetime] = {}  # when the checker last saw each incident become triggered
        self.state: State | None = None
        try:
            for i in range(REPLICAS):
                self.replicas.append(self._run(start_replica(f"r{i}", self.cfg, self.clock, self.sends)))
            self.engine = make_engine(self.url)
        except BaseException:
            self.teardown()
            raise
        self.stats.examples += 1

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        try:
            for r in self.replicas:
                self._run(r.stop())
        finally:
            self.replicas.clear()
            if self.engine is not None:
                self.engine.dispose()
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
            self.loop.close()
            self.stats.sends += self.sends.count()
            self.dbs.drop(self.url, self.workdir)

    # --- deliveries -------------------------------------------------------------------------------------------

    def _next_start(self, ident: Identity) -> datetime:
        """startsAt of a new episode: now, and always after the previous one (a new episode, never the old)."""
        now = self.clock()
        return now if ident.starts is None or now > ident.starts else ident.starts + timedelta(seconds=1)

    def _prepare(self, name: str, status: str, changed: bool = False) -> tuple[dict[str, Any], Callable[[], None]]:
        """The alert JSON Alertmanager would send now, and the model update once it is stored."""
        m = self.ids[name]
        now = self.clock()
        if status == "firing":
            if m.firing:
                assert m.starts is not None
                starts, revision = m.starts, m.revision + (1 if changed else 0)
            else:
                starts, revision = self._next_start(m), 0
            body = alert("firing", starts=starts, annotations={"summary": f"rev {revision}"}, **m.labels)

            def fired() -> None:
                if not m.firing and m.starts is not None:
                    m.older.append(m.starts)
                m.starts, m.firing, m.revision, m.last = starts, True, revision, body
            return body, fired
        # without an episode: a resolve of one never seen firing (it fired before Tocsin listened)
        starts = self._next_start(m) if m.starts is None else m.starts
        body = alert("resolved", starts=starts, ends=now, annotations={"summary": f"rev {m.revision}"}, **m.labels)

        def resolved() -> None:
            m.starts, m.firing, m.last = starts, False, body
        return body, resolved

    async def _deliver(self, r: int, body: dict[str, Any]) -> None:
        """POST a payload like Alertmanager: a 503 is retried (a few times), anything else but 200 is a bug."""
        for attempt in range(4):
            resp = await self.replicas[r].post_webhook(body)
            if resp.status_code != 503:
                break
            self.stats.retries += 1
            await asyncio.sleep(0.05 * (attempt + 1))
        assert resp.status_code == 200, f"webhook answered {resp.status_code}: {resp.text}"

    @rule(alert_id=st.sampled_from(sorted(IDENTITIES)), status=st.sampled_from(["firing", "resolved"]),
          changed=st.booleans(), r=st.integers(0, REPLICAS - 1))
    def deliver(self, alert_id: str, status: str, changed: bool, r: int) -> None:
        body, stored = self._prepare(alert_id, status, changed)
        self._run(self._deliver(r, payload(body)))
        stored()

    @precondition(lambda self: any(m.last is not None for m in self.ids.values()))
    @rule(data=st.data(), r=st.integers(0, REPLICAS - 1))
    def exact_repeat(self, data: st.DataObject, r: int) -> None:
        name = data.draw(st.sampled_from(sorted(n for n, m in self.ids.items() if m.last is not None)))
        self._run(self._deliver(r, payload(self.ids[name].last)))  # type: ignore[arg-type]

    @precondition(lambda self: any(m.older for m in self.ids.values()))
    @rule(data=st.data(), r=st.integers(0, REPLICAS - 1))
    def late_replay_of_older_episode(self, data: st.DataObject, r: int) -> None:
        """An HA peer re-sends the firing of an episode that has since resolved: it must change nothing."""
        name = data.draw(st.sampled_from(sorted(n for n, m in self.ids.items() if m.older)))
        m = self.ids[name]
        starts = data.draw(st.sampled_from(m.older))
        self._run(self._deliver(r, payload(alert("firing", starts=starts, annotations={"summary": "rev 0"},
                                                 **m.labels))))

    @rule(alert_id=st.sampled_from(sorted(IDENTITIES)), status=st.sampled_from(["firing", "resolved"]),
          r1=st.integers(0, REPLICAS - 1), r2=st.integers(0, REPLICAS - 1))
    def ha_duplicate(self, alert_id: str, status: str, r1: int, r2: int) -> None:
        """Both Alertmanagers of an HA pair send the same payload at the same time."""
        body, stored = self._prepare(alert_id, status)
        p = payload(body)
        self._run(self._gather(self._deliver(r1, p), self._deliver(r2, p)))
        stored()

    @rule(items=st.lists(st.tuples(st.sampled_from(sorted(IDENTITIES)), st.sampled_from(["firing", "resolved"]),
                                   st.integers(0, REPLICAS - 1)),
                         min_size=2, max_size=3, unique_by=lambda t: t[0]),
          together=st.booleans())
    def burst(self, items: list[tuple[str, str, int]], together: bool) -> None:
        """Several payloads at once (distinct identities: Alertmanager sends one group's updates in order).
        `together`: additionally one payload carrying all of them (a group), to the first replica."""
        prepared = [(self._prepare(name, status), r) for name, status, r in items]
        sends = [self._deliver(r, payload(body)) for (body, _), r in prepared]
        if together:
            sends.append(self._deliver(items[0][2], payload(*(body for (body, _), _ in prepared))))
        self._run(self._gather(*sends))
        for (_, stored), _ in prepared:
            stored()

    # --- humans ---------------------------------------------------------------------------------------------

    def _pick(self, pick: int) -> int | None:
        """An incident of the last check: open ones first (newest first), then resolved ones.

        (Preconditions and draws depend on the model only, never on what the database says: with real races the
        database may differ between runs of the same steps, and hypothesis must generate the same steps again.)"""
        assert self.state is not None
        incs = sorted(self.state.incidents.values(), key=lambda i: (i["state"] == "resolved", -i["id"]))
        return int(incs[pick % len(incs)]["id"]) if incs else None

    def _incident_of(self, name: str) -> int | None:
        """The newest incident of `name`'s alert name (its incident key group), open ones first."""
        assert self.state is not None
        group = IDENTITIES[name]["alertname"]
        incs = sorted((i for i in self.state.incidents.values() if i["labels"].get("alertname") == group),
                      key=lambda i: (i["state"] == "resolved", -i["id"]))
        return int(incs[0]["id"]) if incs else None

    async def _human(self, r: int, action: str, iid: int, minutes: int) -> httpx.Response:
        kwargs: dict[str, Any] = {"json": {"duration": f"{minutes}m"}} if action == "snooze" else {}
        for attempt in range(4):
            resp = await self.replicas[r].api("POST", f"/api/v1/incidents/{iid}/{action}", **kwargs)
            if resp.status_code != 503:
                return resp
            self.stats.retries += 1
            await asyncio.sleep(0.05 * (attempt + 1))
        return resp

    def _acted(self, action: str, iid: int, resp: httpx.Response) -> None:
        assert resp.status_code in (200, 409), f"{action} answered {resp.status_code}: {resp.text}"
        if resp.status_code != 200:
            return
        state = resp.json()["state"]
        if action == "ack":
            assert state == "acknowledged", resp.text
            self.acked.add(iid)
            self.acked_ever.add(iid)
        elif action == "snooze":
            assert state == "snoozed", resp.text
            self.snoozed_ever.add(iid)
            self.acked.discard(iid)
        else:
            assert state == "resolved", resp.text
            self.acked.discard(iid)
            self.resolved_by_human.add(iid)
            now = read_state(self._engine())
            if now.incidents[iid]["resolved_by"] == HUMAN:
                self.excused |= {k for k, a in now.alerts.items() if a["incident_id"] == iid
                                 and a["status"] == "firing"}

    @precondition(lambda self: any(m.older or m.firing for m in self.ids.values()))
    @rule(action=st.sampled_from(["ack", "resolve", "snooze"]), pick=st.integers(0, 4),
          minutes=st.sampled_from([1, 10]), r=st.integers(0, REPLICAS - 1))
    def human_action(self, action: str, pick: int, minutes: int, r: int) -> None:
        iid = self._pick(pick)
        if iid is None:
            return
        self._acted(action, iid, self._run(self._human(r, action, iid, minutes)))

    @precondition(lambda self: any(m.older or m.firing for m in self.ids.values()))
    @rule(action=st.sampled_from(["ack", "resolve", "snooze"]), alert_id=st.sampled_from(sorted(IDENTITIES)),
          status=st.sampled_from(["firing", "resolved"]), minutes=st.sampled_from([1, 10]),
          r1=st.integers(0, REPLICAS - 1), r2=st.integers(0, REPLICAS - 1))
    def human_races_ingest(self, action: str, alert_id: str, status: str, minutes: int, r1: int, r2: int) -> None:
        """A human acts on the incident of an alert's key while a delivery for that key is being ingested."""
        iid = self._incident_of(alert_id) or self._pick(0)
        body, stored = self._prepare(alert_id, status)
        if iid is None:
            self._run(self._deliver(r2, payload(body)))
            stored()
            return
        resp, _ = self._run(self._gather(self._human(r1, action, iid, minutes), self._deliver(r2, payload(body))))
        stored()
        self._acted(action, iid, resp)

    # --- time ---------------------------------------------------------------------------------------------------

    @rule(seconds=st.sampled_from(ADVANCE), r=st.integers(0, REPLICAS - 1))
    def advance_and_tick(self, seconds: int, r: int) -> None:
        self.clock.advance(seconds=seconds)
        self._run(self.replicas[r].tick())

    @rule(seconds=st.sampled_from(ADVANCE))
    def tick_on_every_replica_at_once(self, seconds: int) -> None:
        self.clock.advance(seconds=seconds)
        self._run(self._gather(*(rep.tick() for rep in self.replicas)))

    @rule(seconds=st.sampled_from(ADVANCE), alert_id=st.sampled_from(sorted(IDENTITIES)),
          status=st.sampled_from(["firing", "resolved"]), r1=st.integers(0, REPLICAS - 1),
          r2=st.integers(0, REPLICAS - 1))
    def tick_races_ingest(self, seconds: int, alert_id: str, status: str, r1: int, r2: int) -> None:
        self.clock.advance(seconds=seconds)
        body, stored = self._prepare(alert_id, status)
        self._run(self._gather(self.replicas[r1].tick(), self._deliver(r2, payload(body))))
        stored()

    @rule(r=st.integers(0, REPLICAS - 1))
    def restart(self, r: int) -> None:
        self._run(self.replicas[r].stop())
        self.replicas[r] = self._run(start_replica(f"r{r}", self.cfg, self.clock, self.sends))

    async def _gather(self, *aws: Awaitable[Any]) -> list[Any]:
        return list(await asyncio.gather(*aws))

    # --- invariants -----------------------------------------------------------------------------------------

    def _engine(self) -> Engine:
        assert self.engine is not None
        return self.engine

    @invariant()
    def never_silent_never_twice(self) -> None:
        s = self.state = read_state(self._engine())
        self.stats.steps += 1
        now = self.clock()
        for iid, inc in s.incidents.items():
            if inc["state"] == "triggered" and self.last_state.get(iid) != "triggered":
                self.since[iid] = now
            self.last_state[iid] = inc["state"]
            self.stats.states[inc["state"]] = self.stats.states.get(inc["state"], 0) + 1
        problems = [*self._firing_alerts_are_covered(s), *self._resolved_do_not_escalate(s),
                    *self._acks_are_kept(s), *self._no_zombies(s), *self._sent_once()]
        if problems:
            raise Violation("\n".join(problems) + "\n" + self._describe(s))

    def _escalating(self, s: State, iid: int) -> bool:
        if not any(run["state"] == "active" for run in s.runs.get(iid, [])):
            return False
        if any(st_["state"] in ("pending", "held") for st_ in s.steps.get(iid, [])):
            return True
        since = self.since.get(iid)
        return any(d["kind"] in PAGES and (d["status"] == "pending" or (
            d["status"] == "delivered" and since is not None and utc(d["created_at"]) >= since))
            for d in s.deliveries.get(iid, []))

    def _firing_alerts_are_covered(self, s: State) -> list[str]:
        out = []
        for name, m in sorted(self.ids.items()):
            if not m.firing:
                continue
            assert m.starts is not None
            key = (m.fingerprint, m.starts)
            ep = s.alerts.get(key)
            if ep is None or ep["status"] != "firing" or ep["incident_id"] is None:
                out.append(f"[1] firing alert {name} (startsAt {m.starts:%H:%M:%S}) is stored as {ep and ep['status']}"
                           f" in incident {ep and ep['incident_id']}")
                continue
            inc = s.incidents[ep["incident_id"]]
            where = f"firing alert {name} (startsAt {m.starts:%H:%M:%S}) in incident {inc['id']} ({inc['state']})"
            if key in self.excused and inc["state"] == "resolved":
                continue  # a human resolved the incident while this episode fired
            if inc["state"] not in OPEN:
                out.append(f"[1] {where}: its incident is resolved (by {inc['resolved_by']})")
            elif inc["state"] == "triggered" and not self._escalating(s, inc["id"]):
                out.append(f"[1] {where}: triggered but nothing escalates it")
            elif inc["state"] == "acknowledged" and (inc["id"] not in self.acked_ever or inc["acked_by"] != HUMAN):
                out.append(f"[1] {where}: acknowledged, but no human acknowledged it")
            elif inc["state"] == "snoozed" and inc["id"] not in self.snoozed_ever:
                out.append(f"[1] {where}: snoozed, but no human snoozed it")
        return out

    def _resolved_do_not_escalate(self, s: State) -> list[str]:
        out = []
        for iid, inc in s.incidents.items():
            if inc["state"] != "resolved":
                continue
            runs = [r["policy"] for r in s.runs.get(iid, []) if r["state"] == "active"]
            steps = [(x["seq"], x["state"]) for x in s.steps.get(iid, [])
                     if x["state"] in ("pending", "held", "paused")]
            pages = [(d["kind"], d["channel"]) for d in s.deliveries.get(iid, [])
                     if d["kind"] in PAGES and d["status"] == "pending"]
            if runs or steps or pages:
                out.append(f"[2] resolved incident {iid} still escalates: runs {runs}, steps {steps}, pages {pages}")
        return out

    def _acks_are_kept(self, s: State) -> list[str]:
        out = []
        for iid in sorted(self.acked):
            inc = s.incidents[iid]
            if inc["state"] == "resolved":
                self.acked.discard(iid)  # resolved after the ack: a new episode may open it again
                continue
            if inc["state"] == "acknowledged":
                continue
            events = s.events.get(iid, [])
            last_ack = max((e["id"] for e in events if e["kind"] == "acknowledged"), default=0)
            if any(e["kind"] == "resolved" and e["id"] > last_ack for e in events):
                self.acked.discard(iid)  # resolved and re-opened within one step
                continue
            out.append(f"[3] incident {iid} was acknowledged by a human and is {inc['state']} now "
                       f"(acked_by {inc['acked_by']}, timeline {[e['kind'] for e in events]})")
        return out

    def _no_zombies(self, s: State) -> list[str]:
        out = []
        for iid, inc in s.incidents.items():
            if inc["state"] not in OPEN or inc["resolve_after"] is not None:
                continue
            if not any(a["incident_id"] == iid and a["status"] == "firing" for a in s.alerts.values()):
                out.append(f"[5] open incident {iid} ({inc['state']}) has no firing alert and no quiet-period "
                           f"resolve pending (firing_alerts={inc['firing_alerts']}, resolved_by {inc['resolved_by']})")
        return out

    def _sent_once(self) -> list[str]:
        return [f"[4] delivery {key} sent {len(sent)} times: {[(r, f'{t:%H:%M:%S}', k, i) for r, t, k, i in sent]}"
                for key, sent in sorted(self.sends.duplicates().items())]

    def _describe(self, s: State) -> str:
        lines = [f"clock {self.clock():%H:%M:%S}; model: "
                 + ", ".join(f"{n}={'firing' if m.firing else 'quiet'}@{m.starts and f'{m.starts:%H:%M:%S}'}"
                             for n, m in sorted(self.ids.items()))
                 + f"; human acked {sorted(self.acked_ever)}, snoozed {sorted(self.snoozed_ever)},"
                 f" resolved {sorted(self.resolved_by_human)}"]
        for iid, inc in sorted(s.incidents.items()):
            eps = [f"{n}@{k[1]:%H:%M:%S}:{a['status']}" for k, a in s.alerts.items() if a["incident_id"] == iid
                   for n, m in self.ids.items() if m.fingerprint == k[0]]
            lines.append(
                f"  incident {iid} {inc['state']} firing_alerts={inc['firing_alerts']} flapping={inc['flapping']} "
                f"acked_by={inc['acked_by']} resolved_by={inc['resolved_by']} alerts={eps} "
                f"runs={[r['state'] for r in s.runs.get(iid, [])]} "
                f"steps={[(x['seq'], x['state']) for x in s.steps.get(iid, [])]} "
                f"pages={[(d['kind'], d['status']) for d in s.deliveries.get(iid, [])]} "
                f"timeline={[e['kind'] for e in s.events.get(iid, [])]}")
        return "\n".join(lines)


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _databases(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Databases:
    return SqliteDatabases(tmp_path) if backend == "sqlite" else \
        PostgresDatabases(request.getfixturevalue("postgres_url"), tmp_path)


@pytest.mark.parametrize("backend", BACKENDS)
def test_incident_state_under_random_interleavings(backend: str, request: pytest.FixtureRequest,
                                                   tmp_path: Path) -> None:
    dbs = _databases(backend, request, tmp_path)
    stats = Stats()
    machine = type(f"Tocsin{backend.title()}Machine", (TocsinMachine,), {"dbs": dbs, "stats": stats})
    outcome = "FAILED (see below)"
    try:
        run_state_machine_as_test(machine, settings=SETTINGS)
        outcome = "all passed"
    finally:
        dbs.close()
        if SOAK:
            print(f"\nsoak {backend}: {stats.examples} examples run, {outcome} (max_examples="
                  f"{SETTINGS.max_examples}, up to {SETTINGS.stateful_step_count} steps each; the count includes "
                  f"replays while shrinking), {stats.steps} states checked, {stats.sends} messages sent, "
                  f"{stats.retries} requests retried after 503; incident states seen "
                  f"{dict(sorted(stats.states.items()))}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_replay_human_resolve_then_flap_reopen(backend: str, request: pytest.FixtureRequest,
                                               tmp_path: Path) -> None:
    """Found by the model (not a review finding), shrunk, deterministic (no race): a re-fire that re-opened a
    human-resolved incident counted 1 firing alert although another still-firing episode stayed linked; that
    episode's resolve dropped the count to 0 and the quiet-period timer resolved the incident while the new
    episode fired (silent). Replayed step by step with the invariants after each."""
    dbs = _databases(backend, request, tmp_path)
    m = type("Replay", (TocsinMachine,), {"dbs": dbs, "stats": Stats()})()
    try:
        m.never_silent_never_twice()
        for step in (lambda: m.deliver("a1", "firing", False, 0),     # incident 1
                     lambda: m.deliver("a1", "resolved", False, 0),   # 1 resolved (2 changes)
                     lambda: m.deliver("a1", "firing", False, 0),     # new incident 2 (3 changes)
                     lambda: m.deliver("a2", "firing", False, 0),     # joins 2: firing_alerts=2
                     lambda: m.human_action("resolve", 0, 1, 0),      # a human resolves 2 (a1, a2 firing)
                     lambda: m.deliver("a1", "resolved", False, 0),   # firing_alerts=1 (a2)
                     lambda: m.deliver("a1", "firing", False, 0),     # flap: 2 re-opens, firing_alerts=1
                     lambda: m.deliver("a2", "resolved", False, 0),   # firing_alerts=0: quiet period
                     lambda: m.advance_and_tick(901, 0)):             # resolved by tocsin, a1 still firing
            step()
            m.never_silent_never_twice()
        assert m.state is not None
        iid = m._incident_of("a1")
        assert iid is not None
        inc = m.state.incidents[iid]
        assert (inc["state"], inc["firing_alerts"]) == ("triggered", 1)  # a1 fires: its incident stays open
    finally:
        m.teardown()
        dbs.close()
