"""Alembic environment: uses the engine handed over in config.attributes; PostgreSQL takes a lock."""

from alembic import context
from sqlalchemy import text

from webhook.incidents.tables import metadata

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    if connection.dialect.name == "postgresql":
        # Several replicas may start at once: serialise their migrations.
        connection.execute(text("SELECT pg_advisory_lock(74631001)"))
        connection.commit()
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_unlock(74631001)"))
        connection.commit()
