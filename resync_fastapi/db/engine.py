"""Create the app's one async engine, with the SQLite pragmas every connection needs.

SQLite: WAL so readers never block the writer (both apps and the proxy share the file), a
busy timeout instead of immediate ``database is locked`` errors, and foreign keys on so
cascades behave as on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event

from resync_fastapi.core.config import Settings, async_database_url
from resync_fastapi.db.async_core import AsyncEngine, create_async_engine

__all__ = ["create_engine", "utcnow"]

# Default (pool size, overflow). SQLite: every aiosqlite connection is a thread with its own page
# cache and writes are serialised anyway; measured on /agents at 50 concurrent clients, 4 + 4
# answered faster and with ~13 MiB less memory than 10 + 20. PostgreSQL serves queries in parallel.
SQLITE_POOL = (4, 4)
POSTGRES_POOL = (10, 20)
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA busy_timeout=5000", "PRAGMA foreign_keys=ON")


def utcnow() -> datetime:
    """Return the current time as the database stores it: naive UTC, whole seconds."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _apply_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _in_memory(url: str) -> bool:
    # An in-memory SQLite database lives in one connection (a static pool): nothing to size.
    return url.startswith("sqlite") and (url.endswith(":memory:") or url.endswith("://"))


def create_engine(settings: Settings) -> AsyncEngine:
    """Build the async engine for ``settings.database_url`` (aiosqlite or asyncpg)."""
    url = async_database_url(settings.database_url)
    # Every request ends its transaction explicitly (commit, or rollback for errors and dry
    # runs), so the pool's own rollback on check-in would only be one more round trip.
    options: dict[str, Any] = {"pool_pre_ping": False, "pool_reset_on_return": None}
    if not _in_memory(url):
        size, overflow = SQLITE_POOL if url.startswith("sqlite") else POSTGRES_POOL
        options.update(
            pool_size=settings.db_pool_size or size,
            max_overflow=overflow if settings.db_max_overflow is None else settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
        )
    engine = create_async_engine(url, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _apply_sqlite_pragmas)
        _skip_empty_sqlite_transactions(engine)
    return engine


def _skip_empty_sqlite_transactions(engine: AsyncEngine) -> None:
    """End a read-only request's transaction without a trip to aiosqlite's thread.

    Python's sqlite3 opens a database transaction only before the first write, so after reads
    alone there is nothing to commit or roll back; each such call would still cost a hop to the
    connection's worker thread (an eighth of a small list endpoint's CPU). A connection that did
    write is committed or rolled back as before.
    """
    dialect = engine.sync_engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection: Any) -> None:
        if _sqlite_in_transaction(dbapi_connection):
            commit(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        if _sqlite_in_transaction(dbapi_connection):
            rollback(dbapi_connection)

    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]


def _sqlite_in_transaction(dbapi_connection: Any) -> bool:
    driver = getattr(dbapi_connection, "driver_connection", None)  # aiosqlite.Connection
    # Unknown shapes (or a closed connection) take the normal path.
    in_transaction = getattr(driver, "in_transaction", None) if driver is not None else None
    return in_transaction is not False
