"""The PostgreSQL plumbing the proxy's own tables share: the flag store's and the rollout's.

One pool per store, opened with :func:`open_pool`, connections borrowed with :func:`pooled` and
the pool closed with :func:`close_pool`; each turns the driver's failures into the proxy's store
errors the same way (:data:`UNAVAILABLE` is what "cannot reach the server" means).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from proxy.errors import StoreError, StoreMissing, StoreUnavailable

__all__ = ["UNAVAILABLE", "close_pool", "open_pool", "pooled"]

# Failures that mean "the server cannot be reached or dropped us", as opposed to a bad statement.
UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now, cancel
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections
    # A pooled connection whose server backend was terminated while it sat idle can be left
    # mid-protocol ("cannot switch to state ..."); it is a dead connection, not a bad query.
    asyncpg.exceptions.InternalClientError,
)


async def open_pool(
    url: str, *, owner: object, max_size: int, seconds: float, application_name: str
) -> asyncpg.Pool:
    """Create a pool named ``application_name`` (``seconds``: connect and command timeout)."""
    try:
        return await asyncpg.create_pool(
            url,
            min_size=1,
            max_size=max_size,
            timeout=seconds,
            command_timeout=seconds,
            server_settings={"application_name": application_name},
        )
    except UNAVAILABLE as exc:
        raise StoreUnavailable(f"{owner!r} unreachable: {exc}") from exc
    except asyncpg.PostgresError as exc:
        raise StoreError(f"{owner!r} failed: {exc}") from exc


async def close_pool(pool: asyncpg.Pool, seconds: float) -> None:
    """Close the pool gracefully, or terminate it when the server does not answer in time."""
    try:
        await asyncio.wait_for(pool.close(), seconds)
    except (TimeoutError, *UNAVAILABLE):
        pool.terminate()


@contextlib.asynccontextmanager
async def pooled(
    pool: asyncpg.Pool, *, owner: object, seconds: float, tables_missing: bool = False
) -> AsyncIterator[Any]:
    """Yield a pooled connection, turning driver failures into the proxy's store errors.

    With ``tables_missing``, a statement on a table that does not exist is a
    :class:`~proxy.errors.StoreMissing` (a store never created), not a failure.
    """
    try:
        async with pool.acquire(timeout=seconds) as conn:
            try:
                yield conn
            except UNAVAILABLE:
                # Never hand a connection that failed this way back to the pool: the next
                # caller would inherit its broken protocol state. The pool replaces it.
                conn.terminate()
                raise
    except UNAVAILABLE as exc:
        raise StoreUnavailable(f"{owner!r} unreachable: {exc}") from exc
    except asyncpg.exceptions.UndefinedTableError as exc:
        if tables_missing:
            raise StoreMissing(owner, "has no flag tables") from exc
        raise StoreError(f"{owner!r} failed: {exc}") from exc
    except asyncpg.PostgresError as exc:
        raise StoreError(f"{owner!r} failed: {exc}") from exc
