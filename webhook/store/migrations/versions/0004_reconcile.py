"""Reconcile with Alertmanager: the suppression (silences, inhibitions) of open incidents' alerts.

Revision ID: 0004
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from webhook.store.metadata import UTCDateTime

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "incident_suppressions",
        sa.Column("incident_id", Id, primary_key=True, autoincrement=False),
        sa.Column("silenced_by", Json, nullable=False),
        sa.Column("inhibited_by", Json, nullable=False),
        sa.Column("silences", Json, nullable=False),
        sa.Column("suppressed_alerts", sa.Integer, nullable=False),
        sa.Column("listed_alerts", sa.Integer, nullable=False),
        sa.Column("since", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("incident_id", name="pk_incident_suppressions"),
    )


def downgrade() -> None:
    op.drop_table("incident_suppressions")
