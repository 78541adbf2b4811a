"""Open the app's pooled engine and give each request one transaction.

A request's connection is opened lazily on first use (``/health/live`` never touches the
database) and its transaction is committed after a successful answer, rolled back after an error
or when the request is a dry run (``X-Resync-Dry-Run`` matching ``RESYNC_DRY_RUN_KEY``), so a
shadowed write leaves nothing behind.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import g
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import ConnectionPoolEntry

__all__ = ["RequestTransaction", "create_database_engine", "db", "engine_url", "utcnow"]

_SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA busy_timeout=5000", "PRAGMA foreign_keys=ON")


def utcnow() -> datetime:
    """Return now as naive UTC at second precision (how the shared schema stores time)."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def engine_url(url: str) -> str:
    """Map the plain ``RESYNC_DATABASE_URL`` to the synchronous driver this app uses."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _set_sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def create_database_engine(
    url: str, *, pool_size: int = 10, max_overflow: int = 20, pool_timeout: float = 5.0
) -> Engine:
    """Create the app's pooled engine (``RESYNC_DB_POOL_*``); SQLite connections get the
    team's pragmas."""
    target = engine_url(url)
    pool = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout}
    if target.startswith("sqlite"):
        engine = create_engine(target, **pool, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _set_sqlite_pragmas)
        return engine
    return create_engine(target, **pool, pool_pre_ping=True)


class RequestTransaction:
    """The one database transaction of a request, committed or rolled back at its end."""

    def __init__(self, engine: Engine, *, dry_run: bool) -> None:
        self._engine = engine
        self._connection: Connection | None = None
        self.dry_run = dry_run
        self.finished = False

    @property
    def connection(self) -> Connection:
        """The request's connection (opened, and its transaction begun, on first use)."""
        if self._connection is None:
            self._connection = self._engine.connect()
        return self._connection

    def commit_now(self) -> None:
        """Persist what was written so far even if the request goes on to fail.

        Used where an error answer must still leave a record (a failed login attempt). A dry
        run persists nothing, so this is a no-op then and the final rollback discards it.
        """
        if self._connection is not None and not self.dry_run:
            self._connection.commit()

    def finish(self, *, success: bool) -> None:
        """Commit (success and not a dry run) or roll back, then give the connection back."""
        if self.finished:
            return
        self.finished = True
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if success and not self.dry_run:
                connection.commit()
            else:
                connection.rollback()
        finally:
            connection.close()


def db() -> Connection:
    """Return the current request's connection."""
    transaction: RequestTransaction = g.transaction
    return transaction.connection
