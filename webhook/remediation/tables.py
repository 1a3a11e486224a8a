"""Tables of remediation: run requests, runs, steps, approvals and the audit log of every action attempt."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from webhook.store.metadata import Id, Json, UTCDateTime, metadata

#: Statuses in which a run owns its target (the partial unique index below makes that atomic).
ACTIVE_SQL = "status IN ('running', 'awaiting_approval')"

remediation_requests = Table(
    "remediation_requests", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id"), nullable=False),
    Column("runbook_id", String(63), nullable=False),
    #: The incident episode's first alert: (fingerprint, starts_at) is the run's idempotency key.
    Column("fingerprint", String(64), nullable=False),
    Column("starts_at", String(40), nullable=False),
    Column("labels", Json, nullable=False),
    Column("annotations", Json, nullable=False),
    #: waiting (for its escalation step), pending, claimed, done, cancelled
    Column("state", String(16), nullable=False),
    Column("trigger_step", Integer),
    Column("hold_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("claimed_at", UTCDateTime),
    Column("claimed_by", String(128)),
    Column("attempts", Integer, nullable=False),
    Column("run_id", String(32)),
    Column("error", Text, nullable=False),
    UniqueConstraint("incident_id", "runbook_id", name="uq_remediation_requests_episode"),
    Index("ix_remediation_requests_state", "state", "created_at"),
)

remediation_runs = Table(
    "remediation_runs", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(300), nullable=False),
    Column("runbook_id", String(63), nullable=False),
    Column("incident_id", String(64)),
    Column("triggered_by", String(128), nullable=False),
    Column("labels", Json, nullable=False),
    Column("annotations", Json, nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("status", String(24), nullable=False),
    Column("outcome", String(16)),
    Column("reason", Text, nullable=False),
    Column("target_key", String(300)),
    Column("target", Json, nullable=False),
    Column("next_step", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    #: The incident's escalation skips steps until then (cleared when the run finishes needing a human).
    Column("hold_escalation_until", UTCDateTime),
    UniqueConstraint("idempotency_key", name="uq_remediation_runs_idempotency_key"),
    Index("uq_remediation_runs_active_target", "target_key", unique=True,
          sqlite_where=text(ACTIVE_SQL), postgresql_where=text(ACTIVE_SQL)),
    Index("ix_remediation_runs_target_started", "target_key", "started_at"),
    Index("ix_remediation_runs_runbook_finished", "runbook_id", "finished_at"),
    Index("ix_remediation_runs_status", "status"),
    Index("ix_remediation_runs_incident", "incident_id"),
)

remediation_steps = Table(
    "remediation_steps", metadata,
    Column("run_id", Id, ForeignKey("remediation_runs.id"), nullable=False),
    Column("phase", String(16), nullable=False),
    Column("step_index", Integer, nullable=False),
    Column("action", String(64), nullable=False),
    Column("summary", Text, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("outcome", String(24), nullable=False),
    Column("params", Json, nullable=False),
    Column("response", Text, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("pods_deleted", Integer, nullable=False),
    Column("nodes_cordoned", Integer, nullable=False),
    Column("guard", String(32)),
    Column("reason", Text, nullable=False),
    PrimaryKeyConstraint("run_id", "phase", "step_index", name="pk_remediation_steps"),
    Index("ix_remediation_steps_finished", "finished_at"),
)

remediation_approvals = Table(
    "remediation_approvals", metadata,
    Column("run_id", Id, ForeignKey("remediation_runs.id"), nullable=False),
    Column("step_index", Integer, nullable=False),
    Column("message", Text, nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("decision", String(16)),
    Column("decided_by", String(128)),
    Column("decided_at", UTCDateTime),
    PrimaryKeyConstraint("run_id", "step_index", name="pk_remediation_approvals"),
)

remediation_audit = Table(
    "remediation_audit", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("run_id", Id, nullable=False),
    Column("runbook_id", String(63), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("message", Text, nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("incident_id", String(64)),
    Column("details", Json, nullable=False),
    Index("ix_remediation_audit_run", "run_id", "id"),
    Index("ix_remediation_audit_at", "at"),
)
