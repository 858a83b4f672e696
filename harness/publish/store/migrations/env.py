"""Alembic environment: migrations run on the connection :func:`harness.publish.store.migrate`
passes in (``config.attributes["connection"]``), never on a URL from an ini file."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from harness.publish.store.tables import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run migrations through harness.publish.store.migrate()")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
