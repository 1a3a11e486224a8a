"""The report's reads: a few set-based queries over the stored history, each streamed once into the accumulator.

The first selects the incidents of the period (opened in [start, end), optionally of one team), with their
escalation, remediation and approval facts as EXISTS columns, then the teams of their first escalation runs;
the others (the timeline's human actions and flap events, the pages, the feedback) read the incident-id range
of those (see read_history). No query per incident (no N+1); rows are fetched in chunks (`yield_per`, a
server-side cursor on PostgreSQL), so memory holds the accumulator's per-incident records and one chunk.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    DateTime,
    String,
    and_,
    cast,
    exists,
    func,
    or_,
    select,
    type_coerce,
)

from webhook.escalation.tables import escalation_runs, escalation_steps
from webhook.incidents.tables import incident_events, incident_feedback, incidents
from webhook.notifiers.tables import deliveries
from webhook.remediation.tables import remediation_approvals, remediation_runs
from webhook.report.compute import HUMAN_KINDS, NONE, SYSTEM_ACTORS, Accumulator, Incident

CHUNK = 5000
#: Delivery kinds that ask a person for attention; updates, acks, resolves and digests are not pages.
PAGE_KINDS = ("trigger", "reminder")
#: Run outcomes that fixed the incident (remediator.records.Outcome).
FIXED = ("verified", "completed")
#: Called after each query with the step's name and the rows it streamed.
Progress = Callable[[str, int], None]
STEPS = ("incidents", "timeline", "pages", "feedback")


def team_of() -> ColumnElement[Any]:
    """The team: that of the incident's first escalation run unless empty, else its `team` label, else empty."""
    first_run = (select(escalation_runs.c.team).where(escalation_runs.c.incident_id == incidents.c.id)
                 .order_by(escalation_runs.c.id).limit(1).scalar_subquery())
    return func.coalesce(func.nullif(first_run, ""), incidents.c.labels["team"].as_string(), "")


def _scope(start: datetime, end: datetime, team: str | None) -> list[ColumnElement[bool]]:
    cond = [incidents.c.opened_at >= start, incidents.c.opened_at < end]
    if team is not None:
        cond.append(team_of() == team)
    return cond


def _sqlite_when(value: str | None) -> datetime | None:
    # appending the offset is 6x faster than .replace(tzinfo=UTC) on CPython 3.11
    return None if value is None else datetime.fromisoformat(value + "+00:00")


def _same(value: Any) -> Any:
    return value


def _when(conn: Connection, col: ColumnElement[Any]) -> tuple[ColumnElement[Any], Callable[[Any], Any]]:
    """A time column and its decoder. SQLite stores UTC text: read as text and parsed by fromisoformat (C), it
    costs a tenth of SQLAlchemy's generic decoding, which dominated the report's time on 100,000 incidents."""
    if conn.dialect.name == "sqlite":
        return type_coerce(col, String), _sqlite_when
    # PostgreSQL: psycopg's aware datetimes as they are (UTCDateTime's conversion to UTC changes no instant)
    return type_coerce(col, DateTime(timezone=True)), _same


def _sqlite_epoch(value: str) -> int:
    return int(datetime.fromisoformat(value + "+00:00").timestamp())


def _epoch(conn: Connection, col: ColumnElement[Any]) -> tuple[ColumnElement[Any], Callable[[Any], int]]:
    """A time column as whole seconds since the epoch, and its decoder: all the pages' accumulator needs. On
    PostgreSQL the server computes it (decoding 175,000 timestamps was a third of the report there)."""
    if conn.dialect.name == "sqlite":
        return type_coerce(col, String), _sqlite_epoch
    return func.floor(func.extract("epoch", col)).cast(BigInteger), int


def _stream(conn: Connection, q: Any) -> Any:
    # yield_per on the statement and max_row_buffer: fixed chunks of CHUNK rows (on PostgreSQL, one FETCH each),
    # not a buffer growing from a handful of rows
    # (statement options: Connection.execution_options would change the caller's connection for good)
    return conn.execute(q.execution_options(stream_results=True, max_row_buffer=CHUNK, yield_per=CHUNK))


def read_history(conn: Connection, acc: Accumulator, start: datetime, end: datetime, team: str | None,
                 progress: Progress | None = None) -> None:
    """Stream the period's history into `acc`, in the caller's transaction. Under PostgreSQL's default READ
    COMMITTED each query sees what was committed when it started: a report taken while incidents change may see
    an ack in one query and not yet its page in the next, which moves a month's figures by nothing visible."""
    scope = _scope(start, end, team)
    if conn.dialect.name == "sqlite":
        # memory-mapped reads: the report reads most of the period's pages of several tables; through read()
        # calls it spent ~40 % of its SQL time in the kernel (bench/report.py). Per connection; safe with WAL.
        conn.exec_driver_sql("PRAGMA mmap_size = 268435456")
    elif conn.dialect.name == "postgresql":
        # the JIT compiled the EXISTS columns for 0.5 s of a 0.7 s query (EXPLAIN ANALYZE, bench/report.py)
        conn.exec_driver_sql("SET LOCAL jit = off")

    def done(step: str, n: int) -> None:
        if progress is not None:
            progress(step, n)

    opened, dt = _when(conn, incidents.c.opened_at)
    acked, resolved = _when(conn, incidents.c.acked_at)[0], _when(conn, incidents.c.resolved_at)[0]
    # the team of each incident (team_of) is read as the label here and the runs below: a correlated subquery
    # per incident cost twice as much on SQLite; with --team every incident has that team anyway
    # the three facts that other tables hold about an incident are EXISTS columns of this one statement: the
    # engine probes an index per incident, far cheaper than sending every step, run or approval over
    st, runs, ap = escalation_steps, remediation_runs, remediation_approvals
    escalated = exists().where(st.c.incident_id == incidents.c.id, st.c.state == "fired", st.c.step_index >= 1)
    own_run = runs.c.incident_id == cast(incidents.c.id, String)  # runs name their incident as text
    fixed = exists().where(own_run, runs.c.outcome.in_(FIXED), runs.c.dry_run.is_(False))
    approved = exists().where(own_run, ap.c.run_id == runs.c.id, ap.c.decision == "approved",
                              ap.c.decided_by.is_not(None))
    q = select(incidents.c.id, incidents.c.labels["alertname"].as_string(), incidents.c.labels["team"].as_string(),
               incidents.c.labels["service"].as_string(), incidents.c.severity, opened, acked, resolved,
               incidents.c.resolved_by, incidents.c.flapping, escalated, fixed, approved).where(*scope)
    n, lo, hi = 0, None, None
    add = acc.incident
    for r in _stream(conn, q):
        lo = r[0] if lo is None or r[0] < lo else lo
        hi = r[0] if hi is None or r[0] > hi else hi
        inc = Incident(r[0], r[1] or NONE, team or r[2] or NONE, r[3] or NONE, r[4], dt(r[5]), dt(r[6]), dt(r[7]),
                       r[8], bool(r[9]), escalated=bool(r[10]), remediated=bool(r[11]))
        if r[12]:
            inc.noted = inc.human = True  # an approved runbook step is a human decision about the incident
        add(inc)
        n += 1
    if n and team is None:
        runs = escalation_runs
        q = (select(runs.c.incident_id, runs.c.team).join(incidents, incidents.c.id == runs.c.incident_id)
             .where(*scope).order_by(runs.c.id))
        first_run = acc.first_run_team
        for r in _stream(conn, q):
            first_run(r[0], r[1])
    done("incidents", n)
    # The queries below read the rows of incidents lo..hi by their incident_id index instead of joining the
    # incidents again: ids grow with time, so that range is the period's incidents plus the few interleaved
    # ones of other teams or just outside the period, whose rows the accumulator ignores (it knows only the
    # period's). Half the SQL time of a join on 100,000 incidents (bench/report.py).
    if not n or lo is None or hi is None:
        for step in STEPS[1:]:
            done(step, 0)
        return

    ev = incident_events
    # only what the accumulator reads: flap events, and human actions (Tocsin's and Alertmanager's own
    # resolves, the bulk of the timeline, are not sent over)
    wanted = or_(ev.c.kind == "flapping", and_(ev.c.kind.in_(HUMAN_KINDS), ev.c.actor.not_in(SYSTEM_ACTORS)))
    q = (select(ev.c.incident_id, ev.c.kind, ev.c.actor, ev.c.detail["note"].as_string())
         .where(wanted, ev.c.incident_id.between(lo, hi)))
    n = 0
    for r in _stream(conn, q):
        acc.event(r[0], r[1], r[2], r[3])
        n += 1
    done("timeline", n)

    d = deliveries
    finished, epoch = _epoch(conn, d.c.finished_at)
    q = (select(d.c.incident_id, d.c.channel, d.c.responder, finished)
         .where(d.c.incident_id.between(lo, hi), d.c.status == "delivered", d.c.kind.in_(PAGE_KINDS),
                d.c.finished_at.is_not(None)))
    n = 0
    page = acc.page
    for r in _stream(conn, q):
        page(r[0], r[1], r[2], epoch(r[3]))
        n += 1
    done("pages", n)

    fb = incident_feedback
    q = select(fb.c.incident_id, fb.c.actionable).where(fb.c.incident_id.between(lo, hi))
    n = 0
    for r in _stream(conn, q):
        acc.feedback(r[0], bool(r[1]))
        n += 1
    done("feedback", n)


def bare_counts(conn: Connection, start: datetime, end: datetime) -> int:
    """The bench's reference: a bare count of the period's incidents (docs/benchmarks.md)."""
    return int(conn.execute(select(func.count()).select_from(incidents).where(*_scope(start, end, None)))
               .scalar_one())
