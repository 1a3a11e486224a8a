"""The table of maintenance windows (migrations 0007_windows, 0012_window_mirror)."""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table

from webhook.store.metadata import Id, Json, UTCDateTime, metadata

maintenance_windows = Table(
    "maintenance_windows", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("comment", String(2000), nullable=False),
    #: Alertmanager matcher texts (`namespace=~"shop.*"`), parsed again on read.
    Column("matchers", Json, nullable=False),
    #: One-off: the window itself. Recurring: optional bounds around the weekly slots.
    Column("starts_at", UTCDateTime),
    Column("ends_at", UTCDateTime),
    #: {days, from, to, timezone} of a weekly slot, NULL for a one-off window.
    Column("recurrence", Json),
    #: The recurrence's zone (UTC for one-off windows), for listing and filtering without parsing JSON.
    Column("timezone", String(64), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    #: "End now": the window stops covering at this instant.
    Column("ended_at", UTCDateTime),
    Column("ended_by", String(128)),
    #: The incident it was made from ("acknowledge and silence"); no foreign key: retention deletes incidents.
    Column("incident_id", Id),
    Column("alertmanager_silence_id", String(64)),
    #: The Alertmanager silence mirror (migration 0012): ok | pending (retried) | failed (refused), NULL: not
    #: mirrored; the last error; the end of the live silence (the current occurrence's for recurring windows).
    Column("mirror_state", String(16)),
    Column("mirror_error", String(500)),
    Column("mirror_until", UTCDateTime),
    Index("ix_maintenance_windows_ends_at", "ends_at"),
)
