"""Keep the JSON bytes of read-only list pages while the SQLite database has not changed.

A page such as ``GET /api/v1/agents`` costs the app one pooled connection and several hops to
aiosqlite's worker thread per request (three quarters of that endpoint's CPU), to read rows that
almost never change. :class:`PageCache` maps a page's key (route and query values) to its
rendered body and the database's *data version* when it was read.

The data version is SQLite's ``PRAGMA data_version``, read on a connection of its own that never
writes: its value changes whenever any other connection (this app's pool, the legacy app, a
migration or a shell, in any process) commits to the file. It is read, synchronously and on the
event loop (a few microseconds: no I/O, only SQLite's shared WAL index), before every cached
answer, so a commit anywhere is seen by the very next request: there is no staleness window.
The version is read *before* a missed page's query, so a page stored with it can only be newer
than its tag, never older.

PostgreSQL has no data version. There a statement-level trigger on each table behind a cached
page (migration 0004, :data:`CACHED_TABLES`) sends ``NOTIFY resync_pages`` when the writing
transaction commits, whichever process wrote, and :class:`PostgresDataVersion` listens on a
connection of its own, outside the pool. Each notification moves its counter, so every page
read before it stops matching. A commit elsewhere is therefore seen once its notification has
reached this process: one network hop after the commit, not the very next request as on
SQLite. While the listener is not connected (starting, PostgreSQL down, the connection
killed) the counter reads None and nothing is cached; on every reconnection the counter moves,
since notifications sent meanwhile are lost. A listening connection that stops answering
without closing is noticed by a ``SELECT 1`` every :data:`PING_SECONDS`: that is the bound on
staleness when the network, not PostgreSQL, fails.

In an in-memory SQLite database, with ``RESYNC_PAGE_CACHE=false``, or whenever the version
cannot be read (the error is logged once and counted), nothing is cached and every request
reads the database as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, Protocol

import structlog
from sqlalchemy.engine import URL, make_url

__all__ = [
    "CACHED_TABLES",
    "CHANNEL",
    "DataVersion",
    "PageCache",
    "PostgresDataVersion",
    "SqliteDataVersion",
    "data_version_for",
    "postgres_dsn_of",
    "sqlite_file_of",
]

logger = structlog.get_logger("resync_fastapi.db")

_DATA_VERSION = "PRAGMA data_version"

# The tables a cached page shows, each with migration 0004's trigger on PostgreSQL.
CACHED_TABLES = ("agents",)
CHANNEL = "resync_pages"  # migration 0004's NOTIFY channel
APPLICATION_NAME = "resync-page-cache"  # the listener in pg_stat_activity
PING_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 5.0


class DataVersion(Protocol):
    """A number that moves whenever the database changes; None while it cannot be known."""

    def read(self) -> int | None: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


def _url_of(database_url: str, backend: str) -> URL | None:
    try:
        url = make_url(database_url)
    except Exception:  # an unparsable URL fails elsewhere, with a clearer message
        return None
    return url if url.get_backend_name() == backend else None


def sqlite_file_of(database_url: str) -> str | None:
    """The file behind a ``sqlite://`` URL, or None (another database, or in memory)."""
    url = _url_of(database_url, "sqlite")
    if url is None:
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or url.query.get("mode"):
        return None
    return database


def postgres_dsn_of(database_url: str) -> str | None:
    """A libpq-style DSN for a ``postgresql://`` URL (any driver suffix), or None."""
    url = _url_of(database_url, "postgresql")
    if url is None:
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def data_version_for(database_url: str, *, enabled: bool = True) -> DataVersion | None:
    """What tells this database's pages apart in time, or None when pages are not cached."""
    if not enabled:
        return None
    sqlite_file = sqlite_file_of(database_url)
    if sqlite_file is not None:
        return SqliteDataVersion(sqlite_file)
    dsn = postgres_dsn_of(database_url)
    return PostgresDataVersion(dsn) if dsn is not None else None


class SqliteDataVersion:
    """Read ``PRAGMA data_version`` of one SQLite file on a private, never-writing connection."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self.failures = 0

    def read(self) -> int | None:
        """The current data version, or None if it cannot be read right now."""
        try:
            if self._conn is None:
                # Autocommit (no transaction is ever left open) and no busy wait: a reader
                # that would block the event loop gives up and the request reads the database.
                conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA busy_timeout=0")
                self._conn = conn
            row = self._conn.execute(_DATA_VERSION).fetchone()
        except sqlite3.Error as exc:
            self.failures += 1
            if self.failures == 1:
                logger.warning("page_cache_version_unreadable", error=str(exc))
            self.close()
            return None
        return int(row[0])

    def close(self) -> None:
        """Close the connection (reopened on the next read)."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    async def start(self) -> None:
        """Nothing to start: the connection opens on the first read."""

    async def aclose(self) -> None:
        """Close the connection."""
        self.close()


class PostgresDataVersion:
    """A change counter pushed by ``LISTEN resync_pages`` on a connection of its own.

    :meth:`read` costs an attribute read. A background task keeps the listening connection:
    it reconnects with a capped backoff, logs ``page_cache_listener_down`` once per outage and
    ``page_cache_listener_recovered`` when back, and counts failures and notifications.
    """

    def __init__(
        self,
        dsn: str,
        *,
        ping_seconds: float = PING_SECONDS,
        max_backoff: float = MAX_BACKOFF_SECONDS,
    ) -> None:
        self._dsn = dsn
        self._ping = ping_seconds
        self._max_backoff = max_backoff
        self._counter = 0
        self._current: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._down_since_logged = False
        self.failures = 0
        self.notifications = 0
        self.connections = 0

    def read(self) -> int | None:
        """The counter while listening, else None (nothing may be cached)."""
        return self._current

    async def start(self) -> None:
        """Start listening in the background (pages are cached once connected)."""
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="resync-page-cache-listener")

    async def aclose(self) -> None:
        """Stop listening and close the connection."""
        self._current = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _move(self) -> None:
        self._counter += 1
        self._current = self._counter

    def _on_notification(self, *_args: Any) -> None:
        self.notifications += 1
        if self._current is not None:
            self._move()

    def _down(self, exc: BaseException) -> None:
        self._current = None
        self.failures += 1
        if not self._down_since_logged:
            self._down_since_logged = True
            logger.warning("page_cache_listener_down", error=str(exc) or type(exc).__name__)

    async def _listen(self) -> None:
        import asyncpg  # only PostgreSQL deployments pay for it

        backoff = 0.1
        while True:
            try:
                conn = await asyncpg.connect(
                    self._dsn,
                    timeout=self._max_backoff,
                    server_settings={"application_name": APPLICATION_NAME},
                )
            except Exception as exc:  # refused, DNS, auth, timeout: retry, never cache meanwhile
                self._down(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            try:
                await self._serve(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # killed, closed, unanswered ping: reconnect
                self._down(exc)
                await asyncio.sleep(backoff)
            finally:
                self._current = None
                conn.terminate()

    async def _serve(self, conn: Any) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(CHANNEL, self._on_notification)
        # Listening from here on: what was read before (and what was sent while no listener
        # was connected) must not match any more.
        self._move()
        self.connections += 1
        if self._down_since_logged:
            self._down_since_logged = False
            logger.info("page_cache_listener_recovered")
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self._ping)
                break
            await asyncio.wait_for(conn.fetchval("SELECT 1"), self._ping)
        raise ConnectionError("the page cache's listening connection closed")


class PageCache:
    """Page key -> (data version, body), valid only while the data version stands still."""

    def __init__(self, version: DataVersion | None, *, max_entries: int = 256) -> None:
        self._version = version
        self._max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[int, bytes]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def enabled(self) -> bool:
        """False in memory or when turned off."""
        return self._version is not None

    @property
    def version(self) -> DataVersion | None:
        """What the pages are checked against (None: nothing is cached)."""
        return self._version

    async def start(self) -> None:
        """Start what the data version needs (PostgreSQL's listener)."""
        if self._version is not None:
            await self._version.start()

    def lookup(self, key: Hashable) -> tuple[int | None, bytes | None]:
        """The version to store a fresh page under, and the cached body if still current.

        A None version means "do not cache": the caller reads the database and stores nothing.
        """
        if self._version is None:
            return None, None
        version = self._version.read()
        if version is None:
            self._entries.clear()
            return None, None
        entry = self._entries.get(key)
        if entry is not None and entry[0] == version:
            self._entries.move_to_end(key)
            self.hits += 1
            return version, entry[1]
        self.misses += 1
        return version, None

    def store(self, key: Hashable, version: int | None, body: bytes) -> None:
        """Remember ``body`` for ``key`` as read at ``version`` (None: not cacheable)."""
        if version is None or self._version is None:
            return
        self._entries[key] = (version, body)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def aclose(self) -> None:
        """Forget everything and close the version's connection."""
        self._entries.clear()
        if self._version is not None:
            await self._version.aclose()
