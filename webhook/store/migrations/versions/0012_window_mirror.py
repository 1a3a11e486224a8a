"""Maintenance windows mirrored into Alertmanager: the mirror's state on each window (docs/windows.md).

Nullable columns only (expand-only): older releases ignore them.

Revision ID: 0012
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from webhook.store.metadata import UTCDateTime

revision = "0012"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("maintenance_windows", sa.Column("mirror_state", sa.String(16)))
    op.add_column("maintenance_windows", sa.Column("mirror_error", sa.String(500)))
    op.add_column("maintenance_windows", sa.Column("mirror_until", UTCDateTime))


def downgrade() -> None:
    with op.batch_alter_table("maintenance_windows") as batch:
        batch.drop_column("mirror_until")
        batch.drop_column("mirror_error")
        batch.drop_column("mirror_state")
