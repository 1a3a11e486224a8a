"""Console sign-in: one-time codes and sessions (docs/console.md, "Sign-in and roles").

New tables only (expand-only); like 0002..0007 it branches from 0001. Nothing refers to them: a session names
its responder by name (the config's, not a row).

Revision ID: 0008
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from webhook.store.metadata import UTCDateTime

revision = "0008"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_codes",
        sa.Column("login", sa.String(320), nullable=False),
        sa.Column("person", sa.String(64)),
        sa.Column("code_hash", sa.LargeBinary(64), nullable=False),
        sa.Column("salt", sa.LargeBinary(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("login", name="pk_sign_in_codes"),
    )
    op.create_index("ix_sign_in_codes_expires_at", "sign_in_codes", ["expires_at"])
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("person", sa.String(64), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("last_seen", UTCDateTime, nullable=False),
        sa.Column("user_agent", sa.String(256), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name="pk_console_sessions"),
    )
    op.create_index("ix_console_sessions_expires_at", "console_sessions", ["expires_at"])
    op.create_index("ix_console_sessions_person", "console_sessions", ["person"])


def downgrade() -> None:
    op.drop_index("ix_console_sessions_person", table_name="console_sessions")
    op.drop_index("ix_console_sessions_expires_at", table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_index("ix_sign_in_codes_expires_at", table_name="sign_in_codes")
    op.drop_table("sign_in_codes")
