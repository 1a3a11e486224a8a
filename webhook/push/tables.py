"""The table of Web Push subscriptions (migration 0009_push_subscriptions)."""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table, UniqueConstraint

from webhook.store.metadata import Id, UTCDateTime, metadata

#: Longest endpoint URL accepted (the push services' are well under 1 kB).
MAX_ENDPOINT = 2048

push_subscriptions = Table(
    "push_subscriptions", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    #: The responder (oncall.responders[].name) whose pages go to this browser.
    Column("person", String(64), nullable=False),
    #: The push service's URL for this browser: a capability, never logged in full (see endpoint_hash).
    Column("endpoint", String(MAX_ENDPOINT), nullable=False),
    #: The browser's P-256 public key (65 bytes, uncompressed point) and auth secret (16 bytes), base64url.
    Column("p256dh", String(100), nullable=False),
    Column("auth", String(40), nullable=False),
    #: A label for the person's list of devices ("Pixel 8"), or the browser's user agent cut short.
    Column("device", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_success", UTCDateTime),
    Column("last_failure", UTCDateTime),
    #: Why the last send failed (status and the service's reason), for the person's device list.
    Column("last_error", String(500)),
    UniqueConstraint("endpoint", name="uq_push_subscriptions_endpoint"),
    Index("ix_push_subscriptions_person", "person"),
)
