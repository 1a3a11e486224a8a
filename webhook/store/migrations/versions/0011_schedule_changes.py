"""Schedule changes made at run time: overrides and swaps (docs/schedules.md).

A new table only (expand-only). Like 0002..0007 it branches from 0001.

Revision ID: 0011
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from webhook.store.metadata import UTCDateTime

revision = "0011"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "schedule_changes",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("schedule", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("starts_at", UTCDateTime, nullable=False),
        sa.Column("ends_at", UTCDateTime, nullable=False),
        sa.Column("layer", sa.String(64)),
        sa.Column("mine_at", UTCDateTime),
        sa.Column("other_user", sa.String(64)),
        sa.Column("other_at", UTCDateTime),
        sa.Column("comment", sa.String(500), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("decided_by", sa.String(128)),
        sa.Column("decided_at", UTCDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_schedule_changes"),
    )
    op.create_index("ix_schedule_changes_state_ends_at", "schedule_changes", ["state", "ends_at"])


def downgrade() -> None:
    op.drop_index("ix_schedule_changes_state_ends_at", table_name="schedule_changes")
    op.drop_table("schedule_changes")
