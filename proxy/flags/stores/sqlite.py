"""Keep the flag table in a SQLite file: zero set-up, shared by every worker on one host.

Each call opens its own short-lived connection in a worker thread (``asyncio.to_thread``), so a
file that disappears or is replaced is noticed at once instead of being hidden behind an open
handle, and no connection is shared between threads. Writers serialise on ``BEGIN IMMEDIATE``
and compare-and-set the single-row version table with ``UPDATE ... WHERE version = ?``. There is
no push notification: workers poll :meth:`SQLiteFlagStore.version`, one indexed row read.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from proxy.errors import StoreError, StoreMissing, StoreUnavailable, VersionConflict
from proxy.flags.stores.base import (
    FlagStore,
    StoreIdentity,
    check_page,
    new_store_id,
    plan_changes,
    utc_now,
)
from proxy.modes import FlagChange, FlagEvent, FlagTable, Mode, RouteFlag

__all__ = ["SQLiteFlagStore"]

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS strangler_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    store_id TEXT,
    replaces TEXT
);
CREATE TABLE IF NOT EXISTS strangler_flags (
    route TEXT PRIMARY KEY,
    mode TEXT NOT NULL,
    percent INTEGER NOT NULL DEFAULT 0,
    dry_run INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT,
    updated_by TEXT
);
CREATE TABLE IF NOT EXISTS strangler_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    version INTEGER NOT NULL,
    route TEXT NOT NULL,
    from_mode TEXT,
    to_mode TEXT NOT NULL,
    percent INTEGER NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS strangler_events_route ON strangler_events (route, id);
"""
_STATEMENTS = [statement.strip() for statement in SCHEMA.split(";") if statement.strip()]

# sqlite3 error messages that mean "cannot reach the file", as opposed to a bad statement.
_UNAVAILABLE_MARKERS = (
    "unable to open",
    "disk i/o error",
    "database is locked",
    "no such table",
    "readonly",
    "file is not a database",
    "malformed",
    "closed",
)


class SQLiteFlagStore(FlagStore):
    """A flag store in one SQLite file (``var/strangler-flags.db`` by default)."""

    def __init__(
        self, path: str | Path, *, poll_interval: float = 0.2, busy_timeout_ms: int = 5000
    ) -> None:
        self.path = Path(path)
        self.poll_interval = poll_interval
        self.busy_timeout_ms = busy_timeout_ms
        self._wanted = False  # open() was called and close() was not

    def __repr__(self) -> str:
        return f"SQLiteFlagStore({str(self.path)!r})"

    async def open(self) -> None:
        self._wanted = True
        await self._run(self._upgrade_identity)

    async def create(self) -> bool:
        self._wanted = True
        return await self._run(self._create, create=True)

    async def close(self) -> None:
        self._wanted = False

    async def identity(self) -> StoreIdentity:
        return await self._run(self._identity)

    async def adopt(self, replaces: str) -> StoreIdentity:
        def adopt(conn: sqlite3.Connection) -> StoreIdentity:
            with _immediate(conn):
                self._identity(conn)  # a missing store raises here
                conn.execute(
                    "UPDATE strangler_state SET store_id = ?, replaces = ? WHERE id = 1",
                    (new_store_id(), replaces),
                )
            return self._identity(conn)

        return await self._run(adopt)

    async def load(self) -> FlagTable:
        return await self._run(self._load)

    async def version(self) -> int:
        return await self._run(self._version)

    #: Every call opens a fresh connection: nothing pooled can have gone stale.
    retries_unavailable = False

    async def _set_flags(
        self, changes: list[FlagChange], actor: str, reason: str, expected: int | None
    ) -> FlagTable:
        return await self._run(lambda conn: self._change(conn, changes, actor, reason, expected))

    async def events(
        self, *, limit: int = 50, offset: int = 0, route: str | None = None
    ) -> list[FlagEvent]:
        check_page(limit, offset)
        return await self._run(lambda conn: self._events(conn, limit, offset, route))

    async def count_events(self, *, route: str | None = None) -> int:
        def count(conn: sqlite3.Connection) -> int:
            if route is None:
                row = conn.execute("SELECT count(*) FROM strangler_events").fetchone()
            else:
                sql = "SELECT count(*) FROM strangler_events WHERE route = ?"
                row = conn.execute(sql, (route,)).fetchone()
            return int(row[0])

        return await self._run(count)

    async def is_empty(self) -> bool:
        return await self._run(
            lambda conn: conn.execute("SELECT 1 FROM strangler_flags LIMIT 1").fetchone() is None
        )

    # -- plumbing ---------------------------------------------------------------------------

    async def _run(self, work: Callable[[sqlite3.Connection], T], *, create: bool = False) -> T:
        if not self._wanted:
            raise StoreUnavailable(f"{self!r} is not open")
        return await asyncio.to_thread(self._call, work, create)

    def _call(self, work: Callable[[sqlite3.Connection], T], create: bool) -> T:
        # A vanished file is a missing store, never a cue to start an empty one: only
        # create() (flags init, a first start with the flag file) makes the file.
        if not create and not self.path.is_file():
            if self.path.parent.is_dir():
                raise StoreMissing(self.path, "does not exist (no such file)")
            raise StoreUnavailable(f"cannot open flag store {self.path}: no such directory")
        try:
            conn = self._connect(create)
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"cannot open flag store {self.path}: {exc}") from exc
        try:
            return work(conn)
        except sqlite3.Error as exc:
            message = str(exc).lower()
            if "no such table" in message:
                raise StoreMissing(self.path, "has no flag tables") from exc
            if any(marker in message for marker in _UNAVAILABLE_MARKERS):
                raise StoreUnavailable(f"flag store {self.path} failed: {exc}") from exc
            raise StoreError(f"flag store {self.path} failed: {exc}") from exc
        finally:
            conn.close()

    def _connect(self, create: bool) -> sqlite3.Connection:
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # mode=rw unless creating: a vanished file is a missing store, not a cue to start one.
        mode = "rwc" if create else "rw"
        uri = f"{self.path.resolve().as_uri()}?mode={mode}"
        conn = sqlite3.connect(
            uri,
            uri=True,
            timeout=self.busy_timeout_ms / 1000,
            isolation_level=None,  # explicit BEGIN/COMMIT below
            check_same_thread=False,
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            conn.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            conn.close()
            raise
        return conn

    def _create(self, conn: sqlite3.Connection) -> bool:
        with _immediate(conn):
            for statement in _STATEMENTS:
                conn.execute(statement)
            self._add_identity_columns(conn)
            created = conn.execute(
                "INSERT OR IGNORE INTO strangler_state (id, version, store_id) VALUES (1, 0, ?)",
                (new_store_id(),),
            ).rowcount
            conn.execute(
                "UPDATE strangler_state SET store_id = ? WHERE id = 1 AND store_id IS NULL",
                (new_store_id(),),
            )
        return bool(created == 1)

    @staticmethod
    def _state_columns(conn: sqlite3.Connection) -> set[str]:
        """The columns of the state table (raises "no such table" when there is none)."""
        columns = {row[1] for row in conn.execute("PRAGMA table_info(strangler_state)")}
        if not columns:
            raise sqlite3.OperationalError("no such table: strangler_state")
        return columns

    @classmethod
    def _add_identity_columns(cls, conn: sqlite3.Connection) -> bool:
        """Add the identity columns to a store made before they existed; return if added."""
        columns = cls._state_columns(conn)
        added = False
        for column in ("store_id", "replaces"):
            if column not in columns:
                conn.execute(f"ALTER TABLE strangler_state ADD COLUMN {column} TEXT")
                added = True
        return added

    def _upgrade_identity(self, conn: sqlite3.Connection) -> None:
        """Check the store exists; give one made before store identities its identity."""
        identity = self._identity(conn) if self._has_identity_columns(conn) else None
        if identity is not None and identity.store_id is not None:
            return
        with _immediate(conn):
            self._add_identity_columns(conn)
            self._version(conn)  # no state row: not a store
            conn.execute(
                "UPDATE strangler_state SET store_id = ? WHERE id = 1 AND store_id IS NULL",
                (new_store_id(),),
            )

    @classmethod
    def _has_identity_columns(cls, conn: sqlite3.Connection) -> bool:
        return "store_id" in cls._state_columns(conn)

    def _identity(self, conn: sqlite3.Connection) -> StoreIdentity:
        row = conn.execute(
            "SELECT version, store_id, replaces FROM strangler_state WHERE id = 1"
        ).fetchone()
        if row is None:
            raise StoreMissing(self.path, "has no version row (not initialised)")
        return StoreIdentity(store_id=row[1], version=int(row[0]), replaces=row[2])

    def _version(self, conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT version FROM strangler_state WHERE id = 1").fetchone()
        if row is None:
            raise StoreMissing(self.path, "has no version row (not initialised)")
        return int(row[0])

    def _load(self, conn: sqlite3.Connection) -> FlagTable:
        conn.execute("BEGIN")  # one snapshot for the version and the flags
        try:
            identity = self._identity(conn)
            rows = conn.execute(
                "SELECT route, mode, percent, dry_run, updated_at, updated_by FROM strangler_flags"
            ).fetchall()
        finally:
            conn.execute("COMMIT")
        return FlagTable.from_flags(
            identity.version,
            (_flag_from_row(row) for row in rows),
            store_id=identity.store_id,
            replaces=identity.replaces,
        )

    def _change(
        self,
        conn: sqlite3.Connection,
        changes: list[FlagChange],
        actor: str,
        reason: str,
        expected_version: int | None,
    ) -> FlagTable:
        with _immediate(conn):  # take the write lock before reading the version
            identity = self._identity(conn)
            version = identity.version
            if expected_version is not None and version != expected_version:
                raise VersionConflict(expected_version, version)
            rows = conn.execute(
                "SELECT route, mode, percent, dry_run, updated_at, updated_by FROM strangler_flags"
            ).fetchall()
            current = {row[0]: _flag_from_row(row) for row in rows}
            at = utc_now()
            planned = plan_changes(current, changes, actor=actor, at=at)
            if not planned:
                conn.execute("ROLLBACK")
                return FlagTable(version, current, identity.store_id, identity.replaces)
            bumped = conn.execute(
                "UPDATE strangler_state SET version = version + 1 WHERE id = 1 AND version = ?",
                (version,),
            )
            if bumped.rowcount != 1:  # cannot happen under BEGIN IMMEDIATE; stated, not assumed
                raise VersionConflict(version, self._version(conn))
            new_version = version + 1
            for item in planned:
                flag = item.flag
                conn.execute(
                    "INSERT INTO strangler_flags"
                    " (route, mode, percent, dry_run, updated_at, updated_by)"
                    " VALUES (?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (route) DO UPDATE SET mode = excluded.mode,"
                    " percent = excluded.percent, dry_run = excluded.dry_run,"
                    " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                    (
                        flag.route,
                        flag.mode.value,
                        flag.percent,
                        int(flag.dry_run),
                        at.isoformat(),
                        actor,
                    ),
                )
                conn.execute(
                    "INSERT INTO strangler_events"
                    " (version, route, from_mode, to_mode, percent, actor, reason, at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        new_version,
                        flag.route,
                        item.from_mode,
                        flag.mode.value,
                        flag.percent,
                        actor,
                        reason,
                        at.isoformat(),
                    ),
                )
                current[flag.route] = flag
        return FlagTable(new_version, current, identity.store_id, identity.replaces)

    @staticmethod
    def _events(
        conn: sqlite3.Connection, limit: int, offset: int, route: str | None
    ) -> list[FlagEvent]:
        columns = "id, version, route, from_mode, to_mode, percent, actor, reason, at"
        if route is None:
            rows = conn.execute(
                f"SELECT {columns} FROM strangler_events ORDER BY id DESC LIMIT ? OFFSET ?",  # noqa: S608  # constant columns
                (limit, offset),
            ).fetchall()
        else:
            rows = conn.execute(
                f"SELECT {columns} FROM strangler_events WHERE route = ?"  # noqa: S608  # constant columns
                " ORDER BY id DESC LIMIT ? OFFSET ?",
                (route, limit, offset),
            ).fetchall()
        return [
            FlagEvent(
                id=row[0],
                version=row[1],
                route=row[2],
                from_mode=row[3],
                to_mode=row[4],
                percent=row[5],
                actor=row[6],
                reason=row[7],
                at=datetime.fromisoformat(row[8]),
            )
            for row in rows
        ]


@contextlib.contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: ``BEGIN IMMEDIATE`` (the write lock first), then ``COMMIT``.

    A raise rolls back; so may the block itself (a change that finds nothing to change), after
    which there is nothing left to commit.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    if conn.in_transaction:
        conn.execute("COMMIT")


def _flag_from_row(row: Sequence[object]) -> RouteFlag:
    route, mode, percent, dry_run, updated_at, updated_by = row
    try:
        return RouteFlag(
            route=str(route),
            mode=Mode(str(mode)),
            percent=int(percent),  # type: ignore[call-overload]
            dry_run=bool(dry_run),
            updated_at=datetime.fromisoformat(str(updated_at)) if updated_at else None,
            updated_by=str(updated_by) if updated_by is not None else None,
        )
    except ValueError as exc:
        raise StoreError(f"flag store holds an invalid row for {route!r}: {exc}") from exc
