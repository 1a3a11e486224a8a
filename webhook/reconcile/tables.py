"""The suppression Alertmanager reports for an open incident's alerts (silences, inhibitions)."""

from __future__ import annotations

from sqlalchemy import Column, Integer, Table

from webhook.store.metadata import Id, Json, UTCDateTime, metadata

#: One row per open incident with at least one silenced or inhibited firing alert; deleted when that ends or the
#: incident closes. No foreign key: retention deletes incidents without knowing this table.
incident_suppressions = Table(
    "incident_suppressions", metadata,
    Column("incident_id", Id, primary_key=True, autoincrement=False),
    #: silence ids, sorted
    Column("silenced_by", Json, nullable=False),
    #: fingerprints of the inhibiting alerts, sorted
    Column("inhibited_by", Json, nullable=False),
    #: [{id, comment, created_by, ends_at}] of the silences, as Alertmanager had them when first seen
    Column("silences", Json, nullable=False),
    #: firing alerts of the incident Alertmanager lists as suppressed, and lists at all
    Column("suppressed_alerts", Integer, nullable=False),
    Column("listed_alerts", Integer, nullable=False),
    Column("since", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
