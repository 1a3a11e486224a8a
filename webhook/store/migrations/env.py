"""Alembic environment: uses the engine handed over in config.attributes; PostgreSQL takes a lock."""

from alembic import context
from sqlalchemy import text

# Every feature's tables on the one metadata (the store itself knows none of them).
from webhook.escalation import tables as _escalation  # noqa: F401
from webhook.incidents import tables as _incidents  # noqa: F401
from webhook.notifiers import tables as _notifiers  # noqa: F401
from webhook.oncall import tables as _oncall  # noqa: F401
from webhook.push import tables as _push  # noqa: F401
from webhook.reconcile import tables as _reconcile  # noqa: F401
from webhook.remediation import tables as _remediation  # noqa: F401
from webhook.signin import tables as _signin  # noqa: F401
from webhook.store.metadata import metadata
from webhook.windows import tables as _windows  # noqa: F401

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
