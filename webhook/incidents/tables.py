"""Tables of record. Alembic migrations create them; this metadata is what the code queries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

Json = JSON().with_variant(postgresql.JSONB(), "postgresql")
Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite only auto-increments INTEGER PRIMARY KEY


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python, stored as UTC (naive on SQLite, timestamptz on PostgreSQL)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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

# Feature tables live in their own modules on this metadata; importing them here keeps it complete.
from webhook.escalation import tables as _escalation_schema  # noqa: E402,F401
from webhook.remediation import tables as _remediation_schema  # noqa: E402,F401
