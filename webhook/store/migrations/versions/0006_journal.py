"""The alert journal: every alert delivery that changed something, for the what-if replay (docs/replay.md).

Revision ID: 0006
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from webhook.store.metadata import UTCDateTime

revision = "0006"
down_revision = "0001"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alert_journal",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("starts_at", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ends_at", UTCDateTime),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("incident_id", Id),
        sa.Column("annotations", Json),
    )
    op.create_index("ix_alert_journal_at", "alert_journal", ["at"])


def downgrade() -> None:
    op.drop_table("alert_journal")
