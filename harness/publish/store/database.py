"""Engines and migrations for SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry

from harness.publish.errors import SettingsError, StoreError

if TYPE_CHECKING:
    from sqlite3 import Connection as SQLiteConnection

    from harness.publish.settings import PublishSettings
    from harness.publish.store.repository import Store

MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x766D6365  # "vmce": a PostgreSQL advisory lock id for concurrent start-ups


def shown_url(url: str) -> str:
    """The URL with any password hidden (for messages)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable database URL)"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get their directory, WAL and immediate transactions."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SettingsError(f"not a database URL: {shown_url(url)}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise SettingsError("the pipeline needs a SQLite file, not an in-memory database")
        Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if backend == "postgresql":
        return create_engine(url, pool_pre_ping=True)
    raise SettingsError(
        f"unsupported database {backend!r}: use sqlite:/// or postgresql+psycopg://"
    )


def _sqlite_connect(dbapi_connection: SQLiteConnection, _record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE instead of pysqlite's deferred BEGIN:
    # a deferred transaction that later writes fails with "database is locked" under concurrency.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest revision (safe when several processes start at once)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK}
                )
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreError(f"database {shown_url(str(engine.url))} unreachable: {reason}") from None
    except SQLAlchemyError as exc:
        raise StoreError(f"database {shown_url(str(engine.url))}: {exc}") from None


def open_store(settings: PublishSettings) -> Store:
    """The store for ``settings``, migrated."""
    from harness.publish.store.repository import Store

    engine = make_engine(settings.database_url)
    migrate(engine)
    return Store(engine, settings)
