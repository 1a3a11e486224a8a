"""Initial schema: incidents, alerts (episodes), incident timeline, webhook receipts.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from webhook.store.metadata import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("incident_key", sa.String(64), nullable=False),
        sa.Column("key_labels", Json, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("labels", Json, nullable=False),
        sa.Column("annotations", Json, nullable=False),
        sa.Column("firing_alerts", sa.Integer, nullable=False),
        sa.Column("alert_count", sa.Integer, nullable=False),
        sa.Column("flapping", sa.Boolean, nullable=False),
        sa.Column("changes", Json, nullable=False),
        sa.Column("resolve_after", UTCDateTime),
        sa.Column("snoozed_until", UTCDateTime),
        sa.Column("opened_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("acked_at", UTCDateTime),
        sa.Column("acked_by", sa.String(128)),
        sa.Column("resolved_at", UTCDateTime),
        sa.Column("resolved_by", sa.String(128)),
        sa.Column("truncated_alerts", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
    )
    op.create_index("uq_incidents_open_key", "incidents", ["incident_key"], unique=True,
                    sqlite_where=sa.text("state != 'resolved'"), postgresql_where=sa.text("state != 'resolved'"))
    op.create_index("ix_incidents_key_resolved", "incidents", ["incident_key", "resolved_at"])
    op.create_index("ix_incidents_state_severity", "incidents", ["state", "severity"])

    op.create_table(
        "alerts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("starts_at", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("labels", Json, nullable=False),
        sa.Column("annotations", Json, nullable=False),
        sa.Column("ends_at", UTCDateTime),
        sa.Column("generator_url", sa.Text, nullable=False),
        sa.Column("incident_id", Id, nullable=True),
        sa.Column("first_seen", UTCDateTime, nullable=False),
        sa.Column("last_seen", UTCDateTime, nullable=False),
        sa.Column("receive_count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name="fk_alerts_incident_id_incidents"),
        sa.UniqueConstraint("fingerprint", "starts_at", name="uq_alerts_episode"),
    )
    op.create_index("ix_alerts_incident_id", "alerts", ["incident_id"])

    op.create_table(
        "incident_events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("incident_id", Id, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("detail", Json, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_incident_events"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"],
                                name="fk_incident_events_incident_id_incidents"),
    )
    op.create_index("ix_incident_events_incident", "incident_events", ["incident_id", "id"])

    op.create_table(
        "webhook_receipts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("receiver", sa.String(1024), nullable=False),
        sa.Column("group_key", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("alerts", sa.Integer, nullable=False),
        sa.Column("truncated_alerts", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_receipts"),
    )
    op.create_index("ix_webhook_receipts_received", "webhook_receipts", ["received_at"])


def downgrade() -> None:
    op.drop_table("webhook_receipts")
    op.drop_table("incident_events")
    op.drop_table("alerts")
    op.drop_table("incidents")
