"""Migrations at start: a schema a newer release migrated is left alone (rolling upgrade, roll-back)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from webhook.store.db import make_engine
from webhook.store.migrate import current_revision, head_revisions, unknown_revisions, upgrade


def test_an_older_release_runs_on_a_schema_a_newer_one_migrated(db_url: str,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        assert unknown_revisions(engine) == []
        heads = current_revision(engine)
        assert heads == ",".join(sorted(head_revisions(engine)))
        with engine.begin() as conn:  # a newer release added its migration on top of one branch
            conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"
                              " WHERE version_num = (SELECT max(version_num) FROM alembic_version)"))
        assert unknown_revisions(engine) == ["0099_future"]
        with caplog.at_level(logging.WARNING, logger="webhook.store.migrate"):
            upgrade(engine)  # no "Can't locate revision": this release starts
        assert "0099_future" in caplog.text and "not migrating" in caplog.text
        assert "0099_future" in current_revision(engine)
    finally:
        engine.dispose()
