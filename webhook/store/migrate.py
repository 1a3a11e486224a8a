"""Alembic migrations run programmatically (no alembic.ini): `tocsin db upgrade` and start-up."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Bring the schema to `revision`; safe to run on every start and from several replicas."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str:
    with engine.connect() as conn:
        return ",".join(sorted(MigrationContext.configure(conn).get_current_heads()))


def head_revisions(engine: Engine) -> tuple[str, ...]:
    """Every head: features add migrations on their own branches from 0001 (escalation, remediation)."""
    return tuple(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
