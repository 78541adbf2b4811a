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

On PostgreSQL, an in-memory SQLite database, with ``RESYNC_PAGE_CACHE=false``, or whenever the
version cannot be read (the error is logged once and counted), nothing is cached and every
request reads the database as before.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Hashable

import structlog
from sqlalchemy.engine import make_url

__all__ = ["PageCache", "SqliteDataVersion", "sqlite_file_of"]

logger = structlog.get_logger("resync_fastapi.db")

_DATA_VERSION = "PRAGMA data_version"


def sqlite_file_of(database_url: str) -> str | None:
    """The file behind a ``sqlite://`` URL, or None (another database, or in memory)."""
    try:
        url = make_url(database_url)
    except Exception:  # an unparsable URL fails elsewhere, with a clearer message
        return None
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or url.query.get("mode"):
        return None
    return database


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


class PageCache:
    """Page key -> (data version, body), valid only while the data version stands still."""

    def __init__(self, version: SqliteDataVersion | None, *, max_entries: int = 256) -> None:
        self._version = version
        self._max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[int, bytes]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def enabled(self) -> bool:
        """False on PostgreSQL, in memory, or when turned off."""
        return self._version is not None

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

    def close(self) -> None:
        """Forget everything and close the version connection."""
        self._entries.clear()
        if self._version is not None:
            self._version.close()
