"""Tables of escalation: runs (policy snapshots), durable step timers, the delivery outbox, rate counters."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, PrimaryKeyConstraint, String, Table, UniqueConstraint

from webhook.store.metadata import Id, Json, UTCDateTime, metadata

escalation_runs = Table(
    "escalation_runs", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id"), nullable=False),
    Column("policy", String(64), nullable=False),
    Column("route", String(500), nullable=False),
    #: The policy as it was when the incident opened: later config edits do not change a running escalation.
    Column("snapshot", Json, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("team", String(128), nullable=False),
    #: Storm or digest the incident is collected into (one message for many incidents).
    Column("group_key", String(200)),
    Column("state", String(16), nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("incident_id", "policy", name="uq_escalation_runs_incident_policy"),
    Index("ix_escalation_runs_team_opened", "team", "opened_at"),
    Index("ix_escalation_runs_group", "group_key"),
)

escalation_steps = Table(
    "escalation_steps", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", Id, ForeignKey("escalation_runs.id"), nullable=False),
    Column("incident_id", Id, nullable=False),
    #: Position in the run's timer chain (cycles flattened); each (run, seq) fires at most once.
    Column("seq", Integer, nullable=False),
    Column("step_index", Integer, nullable=False),
    Column("cycle", Integer, nullable=False),
    #: Repetition of the step within its cycle (Step.repeat); 0 is the first notification.
    Column("rep", Integer, nullable=False, server_default="0"),
    Column("due_at", UTCDateTime, nullable=False),
    Column("state", String(16), nullable=False),  # pending, held, paused, fired, cancelled
    Column("paused_at", UTCDateTime),
    Column("fired_at", UTCDateTime),
    Column("fired_by", String(64)),
    UniqueConstraint("run_id", "seq", name="uq_escalation_steps_run_seq"),
    Index("ix_escalation_steps_state_due", "state", "due_at"),
    Index("ix_escalation_steps_incident", "incident_id"),
)


rate_counters = Table(
    "rate_counters", metadata,
    Column("subject", String(128), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("window_start", UTCDateTime, nullable=False),
    Column("count", Integer, nullable=False),
    PrimaryKeyConstraint("subject", "channel", "window_start", name="pk_rate_counters"),
)
