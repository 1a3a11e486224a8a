"""The tables of console sign-in (migration 0008_console_sessions): pending one-time codes and sessions."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, LargeBinary, String, Table

from webhook.store.metadata import UTCDateTime, metadata

sign_in_codes = Table(
    "sign_in_codes", metadata,
    #: The login as asked for, canonical: the responder's name, or the lowercased unknown name (its code is
    #: never sent, so unknown names behave like known ones without being able to sign in).
    Column("login", String(320), primary_key=True),
    #: The responder, NULL for an unknown login.
    Column("person", String(64)),
    #: scrypt of the code with `salt`: a leaked table does not give away codes still valid.
    Column("code_hash", LargeBinary(64), nullable=False),
    Column("salt", LargeBinary(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Index("ix_sign_in_codes_expires_at", "expires_at"),
)

console_sessions = Table(
    "console_sessions", metadata,
    #: sha256 of the cookie's value: the table alone signs nobody in.
    Column("id_hash", String(64), primary_key=True),
    Column("person", String(64), nullable=False),
    Column("csrf", String(64), nullable=False),
    #: How the person signed in: code or oidc.
    Column("method", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("user_agent", String(256), nullable=False),
    Index("ix_console_sessions_expires_at", "expires_at"),
    Index("ix_console_sessions_person", "person"),
)
