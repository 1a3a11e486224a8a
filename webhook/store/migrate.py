"""Alembic migrations run programmatically (no alembic.ini): `tocsin db upgrade` and start-up."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).with_name("migrations")
log = logging.getLogger(__name__)


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Bring the schema to `revision`; safe to run on every start and from several replicas.

    A schema migrated by a newer release (during a rolling upgrade, or after a roll-back) is left as it is:
    migrations only expand (tests/deploy/test_migrations_expand_only.py), so this release runs on it; an older
    replica restarting mid-rollout must not crash-loop on "Can't locate revision"."""
    newer = unknown_revisions(engine)
    if newer:
        log.warning("the database schema is at %s, which this release does not know (a newer release migrated"
                    " it); not migrating, running on it (migrations are expand-only)", ",".join(newer))
        return
    command.upgrade(alembic_config(engine), revision)


def unknown_revisions(engine: Engine) -> list[str]:
    """Revisions the database is at that this release's migrations do not contain."""
    script = ScriptDirectory.from_config(alembic_config(engine))
    known = {r.revision for r in script.walk_revisions()}
    current = current_revision(engine)
    return [r for r in current.split(",") if r and r not in known]


def current_revision(engine: Engine) -> str:
    with engine.connect() as conn:
        return ",".join(sorted(MigrationContext.configure(conn).get_current_heads()))


def head_revisions(engine: Engine) -> tuple[str, ...]:
    """Every head: features add migrations on their own branches from 0001 (escalation, remediation)."""
    return tuple(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
