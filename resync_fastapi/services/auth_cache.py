"""Keep resolved bearer tokens in memory, and forget them within a bounded time of any change.

Every authenticated request used to read the user row and the revocation list: a pooled
connection and a round trip per request, most of the CPU of a small endpoint. The cache maps a
token (already verified by :class:`~resync_fastapi.core.security.TokenService`, which re-checks
expiry on every use) to its :class:`AuthenticatedUser`.

It stays correct through one number in the shared database, ``auth_version.version``, which
triggers (migration 0003) bump on every revocation (logout, refresh) and every change to or
deletion of a user row, whichever app or tool makes it. The cache re-reads that number at most
every ``RESYNC_AUTH_CACHE_SECONDS`` and empties itself when it moved, so a change anywhere is
honoured by every process within that many seconds (plus one query's time). A change this
process commits itself empties the cache at once. ``RESYNC_AUTH_CACHE_SECONDS=0`` turns the cache
off: every request reads the database, as before.

Concurrent requests share one version read and one user lookup per token, so a burst of
requests with a cold cache costs one query, not one per request.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
import structlog

from resync_fastapi.db import tables

__all__ = ["AuthCache", "version_statement"]

logger = structlog.get_logger("resync_fastapi.auth")

_VERSION = sa.select(tables.auth_version.c.version).where(tables.auth_version.c.id == 1)

V = TypeVar("V")


class AuthCache(Generic[V]):
    """Token -> resolved value, valid while the database's auth version stands still."""

    def __init__(
        self,
        read_version: Callable[[], Awaitable[int | None]],
        *,
        recheck_seconds: float,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read_version = read_version
        self._recheck = recheck_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, V] = OrderedDict()
        self._loading: dict[str, asyncio.Task[V]] = {}
        self._version: int | None = None
        self._checked_at = float("-inf")
        self._checking: asyncio.Task[None] | None = None
        self._warned = False

    @property
    def enabled(self) -> bool:
        """False when ``RESYNC_AUTH_CACHE_SECONDS`` is 0."""
        return self._recheck > 0

    def invalidate(self) -> None:
        """Forget every entry and re-read the version on the next request."""
        self._entries.clear()
        self._checked_at = float("-inf")

    async def get(self, token: str, load: Callable[[], Awaitable[V]]) -> V:
        """Return the cached value for ``token``, or ``load()`` it (once for concurrent callers).

        ``load`` raising (an invalid token) caches nothing.
        """
        if not self.enabled:
            return await load()
        await self._fresh()
        if self._version is None:  # no auth_version row: nothing can be trusted to stay valid
            return await load()
        cached = self._entries.get(token)
        if cached is not None:
            self._entries.move_to_end(token)
            return cached
        task = self._loading.get(token)
        if task is None:
            task = asyncio.ensure_future(self._load(token, load, self._version))
            self._loading[token] = task
        # Shielded: a caller that goes away (client disconnect) leaves the lookup to the others.
        return await asyncio.shield(task)

    async def _load(self, token: str, load: Callable[[], Awaitable[V]], version: int) -> V:
        try:
            value = await load()
        finally:
            self._loading.pop(token, None)
        # Stored only if no change was seen meanwhile: the row read may predate it.
        if self._version == version:
            self._entries[token] = value
            if len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return value

    async def _fresh(self) -> None:
        if self._clock() - self._checked_at < self._recheck:
            return
        if self._checking is None:
            self._checking = asyncio.ensure_future(self._check())
        await asyncio.shield(self._checking)

    async def _check(self) -> None:
        started = self._clock()
        try:
            version = await self._read_version()
        finally:
            self._checking = None
        if version != self._version:
            self._entries.clear()
            self._version = version
        if version is None and not self._warned:
            self._warned = True
            logger.warning("auth_cache_disabled", reason="no auth_version row (migration 0003)")
        self._checked_at = started


def version_statement() -> sa.Select[Any]:
    """The one query the cache runs every ``RESYNC_AUTH_CACHE_SECONDS``."""
    return _VERSION
