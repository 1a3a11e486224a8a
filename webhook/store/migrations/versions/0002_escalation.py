"""Escalation: runs with policy snapshots, durable step timers, delivery outbox, rate-limit counters.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from webhook.store.metadata import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "escalation_runs",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("incident_id", Id, nullable=False),
        sa.Column("policy", sa.String(64), nullable=False),
        sa.Column("route", sa.String(500), nullable=False),
        sa.Column("snapshot", Json, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("team", sa.String(128), nullable=False),
        sa.Column("group_key", sa.String(200)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("opened_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_escalation_runs"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name="fk_escalation_runs_incident_id_incidents"),
        sa.UniqueConstraint("incident_id", "policy", name="uq_escalation_runs_incident_policy"),
    )
    op.create_index("ix_escalation_runs_team_opened", "escalation_runs", ["team", "opened_at"])
    op.create_index("ix_escalation_runs_group", "escalation_runs", ["group_key"])

    op.create_table(
        "escalation_steps",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("run_id", Id, nullable=False),
        sa.Column("incident_id", Id, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("step_index", sa.Integer, nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("rep", sa.Integer, nullable=False, server_default="0"),
        sa.Column("due_at", UTCDateTime, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("paused_at", UTCDateTime),
        sa.Column("fired_at", UTCDateTime),
        sa.Column("fired_by", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_escalation_steps"),
        sa.ForeignKeyConstraint(["run_id"], ["escalation_runs.id"], name="fk_escalation_steps_run_id_escalation_runs"),
        sa.UniqueConstraint("run_id", "seq", name="uq_escalation_steps_run_seq"),
    )
    op.create_index("ix_escalation_steps_state_due", "escalation_steps", ["state", "due_at"])
    op.create_index("ix_escalation_steps_incident", "escalation_steps", ["incident_id"])

    op.create_table(
        "deliveries",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("idem_key", sa.String(255), nullable=False),
        sa.Column("incident_id", Id),
        sa.Column("group_key", sa.String(200)),
        sa.Column("step_seq", sa.Integer),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.String(255), nullable=False),
        sa.Column("responder", sa.String(64)),
        sa.Column("locale", sa.String(8), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("fallback", Json, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("claimed_by", sa.String(64)),
        sa.Column("claimed_until", UTCDateTime),
        sa.Column("reference", sa.String(500)),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name="fk_deliveries_incident_id_incidents"),
        sa.UniqueConstraint("idem_key", name="uq_deliveries_idem_key"),
    )
    op.create_index("ix_deliveries_status_next", "deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_deliveries_incident_channel", "deliveries", ["incident_id", "channel", "address"])

    op.create_table(
        "rate_counters",
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("window_start", UTCDateTime, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("subject", "channel", "window_start", name="pk_rate_counters"),
    )


def downgrade() -> None:
    op.drop_table("rate_counters")
    op.drop_table("deliveries")
    op.drop_table("escalation_steps")
    op.drop_table("escalation_runs")
