"""Short transactions on the app's pool, so no request holds a connection while it waits on I/O.

A pooled connection is a scarce thing (SQLite: one worker thread each; PostgreSQL: one server
process each), so the app takes one only around database work: authentication reads the user
and gives the connection back before any TWS call, and a TWS-bound handler opens its own short
transactions before and after the call instead of keeping one open across it. When the pool is
exhausted for ``RESYNC_DB_POOL_TIMEOUT`` seconds the request gets a 503 problem (with
``Retry-After``) instead of SQLAlchemy's ``TimeoutError`` surfacing as a 500.

A write that can invalidate a token (a revocation, a user change) marks its connection with
:func:`mark_auth_changed`; after that transaction ends, the app's auth cache is emptied at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from sqlalchemy.exc import TimeoutError as PoolTimeout

from resync_fastapi.core.exceptions import ServiceUnavailable
from resync_fastapi.db.async_core import AsyncConnection, AsyncEngine
from resync_fastapi.db.transaction import finish

__all__ = ["Database", "Transactions", "connect", "mark_auth_changed"]

_AUTH_CHANGED = "resync.auth_changed"
POOL_BUSY_DETAIL = "The database is busy; try again shortly."


def mark_auth_changed(conn: AsyncConnection) -> None:
    """Record that this transaction changes who may use which token."""
    conn.info[_AUTH_CHANGED] = True


@asynccontextmanager
async def connect(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """Check a connection out of ``engine``'s pool; a pool timeout becomes a 503."""
    try:
        conn = await engine.connect()
    except PoolTimeout as exc:
        raise ServiceUnavailable(POOL_BUSY_DETAIL, headers={"Retry-After": "1"}) from exc
    try:
        yield conn
    finally:
        await conn.close()


class Transactions(Protocol):
    """Whatever opens short transactions (the app's :class:`Database`, a request's view)."""

    def transaction(self) -> AbstractAsyncContextManager[AsyncConnection]: ...


class Database:
    """The app's engine and what happens around every transaction on it."""

    def __init__(self, engine: AsyncEngine, on_auth_change: Callable[[], None]) -> None:
        self.engine = engine
        self._on_auth_change = on_auth_change

    @asynccontextmanager
    async def transaction(self, *, dry_run: bool = False) -> AsyncIterator[AsyncConnection]:
        """One connection and its transaction: committed (rolled back for a dry run or an
        error), then the connection goes back to the pool."""
        async with connect(self.engine) as conn:
            try:
                yield conn
            except BaseException:
                if conn.in_transaction():
                    await conn.rollback()
                raise
            finally:
                # The flag lives in the pooled connection's info: always clear it.
                changed = conn.info.pop(_AUTH_CHANGED, False)
            await finish(conn, dry_run=dry_run)
            if changed and not dry_run:
                self._on_auth_change()
