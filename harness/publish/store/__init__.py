"""The pipeline's state: SQLAlchemy 2 tables, Alembic migrations, and :class:`Store`.

SQLite by default (a file in the user's data directory, WAL, every write transaction
``BEGIN IMMEDIATE`` so concurrent writers queue instead of failing), PostgreSQL by URL
(``postgresql+psycopg://``). :func:`open_store` migrates to the newest schema first.
"""

from __future__ import annotations

from harness.publish.store.database import make_engine, migrate, open_store
from harness.publish.store.repository import Claim, Store

__all__ = ["Claim", "Store", "make_engine", "migrate", "open_store"]
