"""Remediation: run requests per incident episode, runs, steps, approvals, audit log.

Revision ID: 0003
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from webhook.store.metadata import UTCDateTime

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ACTIVE = sa.text("status IN ('running', 'awaiting_approval')")


def upgrade() -> None:
    op.create_table(
        "remediation_requests",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("incident_id", Id, nullable=False),
        sa.Column("runbook_id", sa.String(63), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("starts_at", sa.String(40), nullable=False),
        sa.Column("labels", Json, nullable=False),
        sa.Column("annotations", Json, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("trigger_step", sa.Integer),
        sa.Column("hold_until", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("claimed_at", UTCDateTime),
        sa.Column("claimed_by", sa.String(128)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(32)),
        sa.Column("error", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_remediation_requests"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"],
                                name="fk_remediation_requests_incident_id_incidents"),
        sa.UniqueConstraint("incident_id", "runbook_id", name="uq_remediation_requests_episode"),
    )
    op.create_index("ix_remediation_requests_state", "remediation_requests", ["state", "created_at"])

    op.create_table(
        "remediation_runs",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(300), nullable=False),
        sa.Column("runbook_id", sa.String(63), nullable=False),
        sa.Column("incident_id", sa.String(64)),
        sa.Column("triggered_by", sa.String(128), nullable=False),
        sa.Column("labels", Json, nullable=False),
        sa.Column("annotations", Json, nullable=False),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("outcome", sa.String(16)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("target_key", sa.String(300)),
        sa.Column("target", Json, nullable=False),
        sa.Column("next_step", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("hold_escalation_until", UTCDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_remediation_runs"),
        sa.UniqueConstraint("idempotency_key", name="uq_remediation_runs_idempotency_key"),
    )
    op.create_index("uq_remediation_runs_active_target", "remediation_runs", ["target_key"], unique=True,
                    sqlite_where=ACTIVE, postgresql_where=ACTIVE)
    op.create_index("ix_remediation_runs_target_started", "remediation_runs", ["target_key", "started_at"])
    op.create_index("ix_remediation_runs_runbook_finished", "remediation_runs", ["runbook_id", "finished_at"])
    op.create_index("ix_remediation_runs_status", "remediation_runs", ["status"])
    op.create_index("ix_remediation_runs_incident", "remediation_runs", ["incident_id"])

    op.create_table(
        "remediation_steps",
        sa.Column("run_id", Id, nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("step_index", sa.Integer, nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("params", Json, nullable=False),
        sa.Column("response", sa.Text, nullable=False),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("pods_deleted", sa.Integer, nullable=False),
        sa.Column("nodes_cordoned", sa.Integer, nullable=False),
        sa.Column("guard", sa.String(32)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "phase", "step_index", name="pk_remediation_steps"),
        sa.ForeignKeyConstraint(["run_id"], ["remediation_runs.id"],
                                name="fk_remediation_steps_run_id_remediation_runs"),
    )
    op.create_index("ix_remediation_steps_finished", "remediation_steps", ["finished_at"])

    op.create_table(
        "remediation_approvals",
        sa.Column("run_id", Id, nullable=False),
        sa.Column("step_index", sa.Integer, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("requested_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("decision", sa.String(16)),
        sa.Column("decided_by", sa.String(128)),
        sa.Column("decided_at", UTCDateTime),
        sa.PrimaryKeyConstraint("run_id", "step_index", name="pk_remediation_approvals"),
        sa.ForeignKeyConstraint(["run_id"], ["remediation_runs.id"],
                                name="fk_remediation_approvals_run_id_remediation_runs"),
    )

    op.create_table(
        "remediation_audit",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("run_id", Id, nullable=False),
        sa.Column("runbook_id", sa.String(63), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("incident_id", sa.String(64)),
        sa.Column("details", Json, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_remediation_audit"),
    )
    op.create_index("ix_remediation_audit_run", "remediation_audit", ["run_id", "id"])
    op.create_index("ix_remediation_audit_at", "remediation_audit", ["at"])


def downgrade() -> None:
    op.drop_table("remediation_audit")
    op.drop_table("remediation_approvals")
    op.drop_table("remediation_steps")
    op.drop_table("remediation_runs")
    op.drop_table("remediation_requests")
