"""Tables of record. Alembic migrations create them; this metadata is what the code queries."""

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

incidents = Table(
    "incidents", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_key", String(64), nullable=False),
    Column("key_labels", Json, nullable=False),
    Column("state", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("title", String(500), nullable=False),
    Column("labels", Json, nullable=False),
    Column("annotations", Json, nullable=False),
    Column("firing_alerts", Integer, nullable=False),
    Column("alert_count", Integer, nullable=False),
    Column("flapping", Boolean, nullable=False, default=False),
    Column("changes", Json, nullable=False),
    Column("resolve_after", UTCDateTime),
    Column("snoozed_until", UTCDateTime),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("acked_at", UTCDateTime),
    Column("acked_by", String(128)),
    Column("resolved_at", UTCDateTime),
    Column("resolved_by", String(128)),
    Column("truncated_alerts", Integer, nullable=False, default=0),
    Index("uq_incidents_open_key", "incident_key", unique=True,
          sqlite_where=text("state != 'resolved'"), postgresql_where=text("state != 'resolved'")),
    Index("ix_incidents_key_resolved", "incident_key", "resolved_at"),
    Index("ix_incidents_state_severity", "state", "severity"),
)

alerts = Table(
    "alerts", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("fingerprint", String(64), nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("labels", Json, nullable=False),
    Column("annotations", Json, nullable=False),
    Column("ends_at", UTCDateTime),
    Column("generator_url", Text, nullable=False),
    Column("incident_id", Id, ForeignKey("incidents.id"), index=True),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("receive_count", Integer, nullable=False),
    UniqueConstraint("fingerprint", "starts_at", name="uq_alerts_episode"),
)

incident_events = Table(
    "incident_events", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("detail", Json, nullable=False),
    Index("ix_incident_events_incident", "incident_id", "id"),
)

receipts = Table(
    "webhook_receipts", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("receiver", String(1024), nullable=False),
    Column("group_key", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("alerts", Integer, nullable=False),
    Column("truncated_alerts", Integer, nullable=False),
    Index("ix_webhook_receipts_received", "received_at"),
)

#: "Was this actionable?" answers (alert-quality report, docs/report.md): one row per person and incident, the
#: latest answer wins (upsert on the primary key). Written by webhook/report/repo.py. No foreign key: retention
#: (webhook/retention.py) deletes old incidents without knowing this table, and a key would make it fail.
incident_feedback = Table(
    "incident_feedback", metadata,
    Column("incident_id", Id, nullable=False),
    Column("person", String(128), nullable=False),
    Column("actionable", Boolean, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("incident_id", "person", name="pk_incident_feedback"),
)

#: The journal of alert deliveries that changed something (every decision but a repeat), in arrival order: what
#: `tocsin replay` feeds through a candidate policy (docs/replay.md). Repeats (repeat_interval, the HA peer's copy,
#: retries) change nothing and are only counted on the episode. Compact: labels and the generator URL are the
#: episode's (alerts, by fingerprint and startsAt); annotations only for an update (they changed). Retention deletes
#: it by age.
alert_journal = Table(
    "alert_journal", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    #: the ingest transaction's time (one batch: one `at`, rows in arrival order by id)
    Column("at", UTCDateTime, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("ends_at", UTCDateTime),
    #: the decision (webhook.incidents.model.Reason) and the incident it touched, if any
    Column("reason", String(16), nullable=False),
    Column("incident_id", Id),
    Column("annotations", Json),
    Index("ix_alert_journal_at", "at"),
)
