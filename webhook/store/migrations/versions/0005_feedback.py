"""Alert-quality report: "was this actionable?" answers per incident and person (docs/report.md).

A new table only (expand-only). Like 0002..0004 it branches from 0001, which created `incidents`, the one
table it refers to (by id, without a foreign key: retention deletes incidents without knowing
this table). Features add their migrations on their own branches (webhook/store/migrate.py).

Revision ID: 0005_feedback
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from webhook.store.metadata import UTCDateTime

revision = "0005_feedback"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "incident_feedback",
        sa.Column("incident_id", Id, nullable=False),
        sa.Column("person", sa.String(128), nullable=False),
        sa.Column("actionable", sa.Boolean, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("incident_id", "person", name="pk_incident_feedback"),
    )


def downgrade() -> None:
    op.drop_table("incident_feedback")
