"""Table of the notifiers: the delivery outbox (one row per message to send, with its lease and outcome)."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from webhook.store.metadata import Id, Json, UTCDateTime, metadata

deliveries = Table(
    "deliveries", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    #: incident (or storm/digest group), run step, target and channel, kind and sequence for updates.
    Column("idem_key", String(255), nullable=False),
    Column("incident_id", Id, ForeignKey("incidents.id")),
    Column("group_key", String(200)),
    Column("step_seq", Integer),
    Column("kind", String(32), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("address", String(255), nullable=False),
    Column("responder", String(64)),
    Column("locale", String(8), nullable=False),
    Column("note", Text),
    #: Other (channel, address) pairs of the same person, tried in order on a permanent failure (critical).
    Column("fallback", Json, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # pending, delivered, failed, cancelled
    Column("attempts", Integer, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    #: Due time of the next attempt; a claim moves it to the end of the lease, so a crashed claim is retried.
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("claimed_by", String(64)),
    Column("claimed_until", UTCDateTime),
    Column("reference", String(500)),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    UniqueConstraint("idem_key", name="uq_deliveries_idem_key"),
    Index("ix_deliveries_status_next", "status", "next_attempt_at"),
    Index("ix_deliveries_incident_channel", "incident_id", "channel", "address"),
)
