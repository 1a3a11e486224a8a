"""The table of schedule changes made at run time: overrides and swaps (migration 0011_schedule_changes)."""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table

from webhook.store.metadata import Id, UTCDateTime, metadata

schedule_changes = Table(
    "schedule_changes", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("schedule", String(64), nullable=False),
    #: "override" or "swap".
    Column("kind", String(16), nullable=False),
    #: override: active | deleted; swap: pending | accepted | declined | cancelled. Only active and accepted count.
    Column("state", String(16), nullable=False),
    #: The override's person, or the swap's requester (whose shift at `mine_at` is traded).
    Column("user", String(64), nullable=False),
    #: The override's span; for a swap the span of both shifts (so old changes are skipped by one index range).
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("layer", String(64)),
    Column("mine_at", UTCDateTime),
    Column("other_user", String(64)),
    Column("other_at", UTCDateTime),
    Column("comment", String(500), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    #: Who accepted, declined, cancelled or deleted it, and when.
    Column("decided_by", String(128)),
    Column("decided_at", UTCDateTime),
    Index("ix_schedule_changes_state_ends_at", "state", "ends_at"),
)
