"""Web Push subscriptions (docs/channels.md, Web Push).

A new table only (expand-only). Like 0002..0007 it branches from 0001; people are named as in the config
(oncall.responders[].name), without a foreign key.

Revision ID: 0009
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from webhook.store.metadata import UTCDateTime

revision = "0009"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "push_subscriptions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("person", sa.String(64), nullable=False),
        sa.Column("endpoint", sa.String(2048), nullable=False),
        sa.Column("p256dh", sa.String(100), nullable=False),
        sa.Column("auth", sa.String(40), nullable=False),
        sa.Column("device", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("last_success", UTCDateTime),
        sa.Column("last_failure", UTCDateTime),
        sa.Column("last_error", sa.String(500)),
        sa.PrimaryKeyConstraint("id", name="pk_push_subscriptions"),
        sa.UniqueConstraint("endpoint", name="uq_push_subscriptions_endpoint"),
    )
    op.create_index("ix_push_subscriptions_person", "push_subscriptions", ["person"])


def downgrade() -> None:
    op.drop_index("ix_push_subscriptions_person", table_name="push_subscriptions")
    op.drop_table("push_subscriptions")
