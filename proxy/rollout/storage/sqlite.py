"""Rollout plans, history, lease and worker figures in the flag store's SQLite file.

Like the flag store, every call opens a short-lived connection in a worker thread and writers
serialise on ``BEGIN IMMEDIATE``. Lease expiry uses this host's wall clock: every worker sharing
a SQLite file is on this host.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from proxy.errors import StoreError, StoreMissing, StoreUnavailable, VersionConflict
from proxy.rollout.storage.base import (
    UNCONDITIONAL,
    HistoryEntry,
    Lease,
    PlanDocument,
    RolloutStore,
)

__all__ = ["SQLiteRolloutStore"]

T = TypeVar("T")
HISTORY_LIMIT = 10_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS strangler_plans (
    route TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS strangler_plan_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    route TEXT NOT NULL,
    at REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS strangler_plan_history_route ON strangler_plan_history (route, id);
CREATE TABLE IF NOT EXISTS strangler_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    term INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS strangler_worker_figures (
    worker TEXT PRIMARY KEY,
    at REAL NOT NULL,
    body TEXT NOT NULL
);
"""

_UNAVAILABLE_MARKERS = ("unable to open", "disk i/o", "locked", "no such table", "readonly")


class SQLiteRolloutStore(RolloutStore):
    """The rollout tables in a SQLite file (the flag store's)."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 5000) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._opened = False

    def __repr__(self) -> str:
        return f"SQLiteRolloutStore({str(self.path)!r})"

    async def open(self) -> None:
        await asyncio.to_thread(
            self._call, lambda c: c.executescript(f"BEGIN IMMEDIATE;{SCHEMA}COMMIT;"), True
        )
        self._opened = True

    async def close(self) -> None:
        self._opened = False

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if not self._opened:
            await self.open()
        return await asyncio.to_thread(self._call, work, False)

    def _call(self, work: Callable[[sqlite3.Connection], T], create: bool) -> T:
        # The file is the flag store's: only the flag store's create() (flags init, a first
        # start with the flag file) makes it. A missing file is a missing store, refused.
        if not self.path.is_file():
            raise StoreMissing(self.path, "does not exist (no such file)")
        try:
            uri = f"{self.path.resolve().as_uri()}?mode=rw"
            conn = sqlite3.connect(
                uri,
                uri=True,
                timeout=self.busy_timeout_ms / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"cannot open {self.path}: {exc}") from exc
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            return work(conn)
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            message = str(exc).lower()
            if any(marker in message for marker in _UNAVAILABLE_MARKERS):
                raise StoreUnavailable(f"{self!r} failed: {exc}") from exc
            raise StoreError(f"{self!r} failed: {exc}") from exc
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    # plans --------------------------------------------------------------------------------------
    async def plans(self) -> list[PlanDocument]:
        rows = await self._run(
            lambda c: c.execute(
                "SELECT route, revision, body FROM strangler_plans ORDER BY route"
            ).fetchall()
        )
        return [PlanDocument(r[0], int(r[1]), json.loads(r[2])) for r in rows]

    async def plan(self, route: str) -> PlanDocument | None:
        row = await self._run(
            lambda c: c.execute(
                "SELECT route, revision, body FROM strangler_plans WHERE route = ?", (route,)
            ).fetchone()
        )
        return PlanDocument(row[0], int(row[1]), json.loads(row[2])) if row else None

    async def put_plan(
        self, route: str, body: dict[str, Any], *, expected_revision: int = UNCONDITIONAL
    ) -> int:
        text = json.dumps(body, separators=(",", ":"))

        def put(conn: sqlite3.Connection) -> int:
            current, _ = _locked_revision(conn, route, expected_revision)
            conn.execute(
                "INSERT INTO strangler_plans (route, revision, body) VALUES (?, ?, ?)"
                " ON CONFLICT (route) DO UPDATE SET revision = excluded.revision,"
                " body = excluded.body",
                (route, current + 1, text),
            )
            conn.execute("COMMIT")
            return current + 1

        return await self._run(put)

    async def delete_plan(self, route: str, *, expected_revision: int = UNCONDITIONAL) -> bool:
        def delete(conn: sqlite3.Connection) -> bool:
            _, exists = _locked_revision(conn, route, expected_revision)
            conn.execute("DELETE FROM strangler_plans WHERE route = ?", (route,))
            conn.execute("COMMIT")
            return exists

        return await self._run(delete)

    # history ------------------------------------------------------------------------------------
    async def record(self, route: str, body: dict[str, Any]) -> None:
        text = json.dumps(body, separators=(",", ":"))

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO strangler_plan_history (route, at, body) VALUES (?, ?, ?)",
                (route, time.time(), text),
            )
            conn.execute(
                "DELETE FROM strangler_plan_history WHERE id <= "
                "(SELECT max(id) FROM strangler_plan_history) - ?",
                (HISTORY_LIMIT,),
            )
            conn.execute("COMMIT")

        await self._run(insert)

    async def history(self, *, route: str | None = None, limit: int = 50) -> list[HistoryEntry]:
        if limit < 0:
            raise ValueError("limit must not be negative")

        def read(conn: sqlite3.Connection) -> list[Any]:
            if route is None:
                return conn.execute(
                    "SELECT id, route, at, body FROM strangler_plan_history"
                    " ORDER BY id DESC LIMIT ?",
                    (limit,),
                ).fetchall()
            return conn.execute(
                "SELECT id, route, at, body FROM strangler_plan_history WHERE route = ?"
                " ORDER BY id DESC LIMIT ?",
                (route, limit),
            ).fetchall()

        rows = await self._run(read)
        return [HistoryEntry(int(r[0]), r[1], float(r[2]), json.loads(r[3])) for r in rows]

    # lease --------------------------------------------------------------------------------------
    async def acquire(self, name: str, holder: str, ttl: float) -> Lease:
        def take(conn: sqlite3.Connection) -> Lease:
            conn.execute("BEGIN IMMEDIATE")
            now = time.time()
            row = conn.execute(
                "SELECT holder, term, expires_at FROM strangler_leases WHERE name = ?", (name,)
            ).fetchone()
            if row is not None and row[0] != holder and float(row[2]) > now:
                conn.execute("ROLLBACK")
                return Lease(row[0], int(row[1]), float(row[2]) - now)
            term = int(row[1]) if row is not None else 0
            if row is None or row[0] != holder:
                term += 1
            conn.execute(
                "INSERT INTO strangler_leases (name, holder, term, expires_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
                " term = excluded.term, expires_at = excluded.expires_at",
                (name, holder, term, now + ttl),
            )
            conn.execute("COMMIT")
            return Lease(holder, term, ttl)

        return await self._run(take)

    async def release(self, name: str, holder: str) -> None:
        await self._run(
            lambda c: c.execute(
                "UPDATE strangler_leases SET expires_at = 0 WHERE name = ? AND holder = ?",
                (name, holder),
            )
        )

    async def lease(self, name: str) -> Lease | None:
        row = await self._run(
            lambda c: c.execute(
                "SELECT holder, term, expires_at FROM strangler_leases WHERE name = ?", (name,)
            ).fetchone()
        )
        if row is None:
            return None
        remaining = float(row[2]) - time.time()
        return Lease(row[0], int(row[1]), remaining) if remaining > 0 else None

    # worker figures -----------------------------------------------------------------------------
    async def publish(self, worker: str, body: dict[str, Any]) -> None:
        text = json.dumps(body, separators=(",", ":"))
        await self._run(
            lambda c: c.execute(
                "INSERT INTO strangler_worker_figures (worker, at, body) VALUES (?, ?, ?)"
                " ON CONFLICT (worker) DO UPDATE SET at = excluded.at, body = excluded.body",
                (worker, time.time(), text),
            )
        )

    async def collect(self, *, max_age: float) -> dict[str, dict[str, Any]]:
        def read(conn: sqlite3.Connection) -> list[Any]:
            oldest = time.time() - max_age
            conn.execute("DELETE FROM strangler_worker_figures WHERE at < ?", (oldest,))
            return conn.execute("SELECT worker, body FROM strangler_worker_figures").fetchall()

        return {row[0]: json.loads(row[1]) for row in await self._run(read)}


def _locked_revision(
    conn: sqlite3.Connection, route: str, expected_revision: int
) -> tuple[int, bool]:
    """Take the write lock, read a plan's revision (0: none) and check the expected one.

    Returns the revision and whether the plan exists; the caller writes and commits (``_call``
    rolls back on a raise).
    """
    conn.execute("BEGIN IMMEDIATE")
    row = conn.execute("SELECT revision FROM strangler_plans WHERE route = ?", (route,)).fetchone()
    current = int(row[0]) if row else 0
    if expected_revision != UNCONDITIONAL and current != expected_revision:
        raise VersionConflict(expected_revision, current)
    return current, row is not None
