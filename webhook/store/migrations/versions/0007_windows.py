"""Maintenance windows (docs/windows.md).

A new table only (expand-only). Like 0002..0005 it branches from 0001; it refers to incidents by id without a
foreign key (retention deletes incidents without knowing this table).

Revision ID: 0007
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from webhook.store.metadata import Json, UTCDateTime

revision = "0007"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "maintenance_windows",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("comment", sa.String(2000), nullable=False),
        sa.Column("matchers", Json, nullable=False),
        sa.Column("starts_at", UTCDateTime),
        sa.Column("ends_at", UTCDateTime),
        sa.Column("recurrence", Json),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime),
        sa.Column("ended_by", sa.String(128)),
        sa.Column("incident_id", Id),
        sa.Column("alertmanager_silence_id", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_maintenance_windows"),
    )
    op.create_index("ix_maintenance_windows_ends_at", "maintenance_windows", ["ends_at"])


def downgrade() -> None:
    op.drop_index("ix_maintenance_windows_ends_at", table_name="maintenance_windows")
    op.drop_table("maintenance_windows")
