"""Rollout plans, history, lease and worker figures in the flag store's PostgreSQL database.

Tables of the proxy's own (created when missing, like the flag tables). Lease expiry is the
server's clock (``clock_timestamp()``), so hosts with skewed clocks still agree on it; taking or
renewing a lease is one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` that only succeeds for
the holder or on an expired lease.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from proxy.errors import VersionConflict
from proxy.flags.stores.pgpool import close_pool, open_pool, pooled
from proxy.rollout.storage.base import (
    UNCONDITIONAL,
    HistoryEntry,
    Lease,
    PlanDocument,
    RolloutStore,
)

__all__ = ["PostgresRolloutStore"]

HISTORY_LIMIT = 10_000
_SCHEMA_LOCK_KEY = 0x53545250  # "STRP": serialises CREATE TABLE IF NOT EXISTS at first start

SCHEMA = """
CREATE TABLE IF NOT EXISTS strangler_plans (
    route text PRIMARY KEY,
    revision bigint NOT NULL,
    body jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS strangler_plan_history (
    id bigserial PRIMARY KEY,
    route text NOT NULL,
    at double precision NOT NULL,
    body jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS strangler_plan_history_route ON strangler_plan_history (route, id);
CREATE TABLE IF NOT EXISTS strangler_leases (
    name text PRIMARY KEY,
    holder text NOT NULL,
    term bigint NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS strangler_worker_figures (
    worker text PRIMARY KEY,
    at timestamptz NOT NULL,
    body jsonb NOT NULL
);
"""


class PostgresRolloutStore(RolloutStore):
    """The rollout tables in a PostgreSQL database (the flag store's)."""

    def __init__(self, url: str, *, timeout: float = 5.0, max_connections: int = 2) -> None:
        self.url = url
        self.timeout = timeout
        self.max_connections = max_connections
        self._pool: asyncpg.Pool | None = None

    def __repr__(self) -> str:
        return "PostgresRolloutStore()"

    async def open(self) -> None:
        if self._pool is not None:
            return
        pool = await open_pool(
            self.url,
            owner=self,
            max_size=self.max_connections,
            seconds=self.timeout,
            application_name="strangler-rollout",
        )
        try:
            async with (
                pooled(pool, owner=self, seconds=self.timeout) as conn,
                conn.transaction(),
            ):
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK_KEY)
                await conn.execute(SCHEMA)
        except BaseException:
            pool.terminate()  # no half-opened store: the next use opens it again
            raise
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await close_pool(pool, self.timeout)

    @contextlib.asynccontextmanager
    async def _conn(self) -> AsyncIterator[Any]:
        if self._pool is None:
            await self.open()
        assert self._pool is not None
        async with pooled(self._pool, owner=self, seconds=self.timeout) as conn:
            yield conn

    # plans --------------------------------------------------------------------------------------
    async def plans(self) -> list[PlanDocument]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT route, revision, body::text FROM strangler_plans ORDER BY route"
            )
        return [PlanDocument(r[0], int(r[1]), json.loads(r[2])) for r in rows]

    async def plan(self, route: str) -> PlanDocument | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(
                "SELECT route, revision, body::text FROM strangler_plans WHERE route = $1", route
            )
        return PlanDocument(row[0], int(row[1]), json.loads(row[2])) if row else None

    async def put_plan(
        self, route: str, body: dict[str, Any], *, expected_revision: int = UNCONDITIONAL
    ) -> int:
        text = json.dumps(body, separators=(",", ":"))
        async with self._conn() as conn, conn.transaction():
            current = await _locked_revision(conn, route, expected_revision)
            await conn.execute(
                "INSERT INTO strangler_plans (route, revision, body) VALUES ($1, $2, $3::jsonb)"
                " ON CONFLICT (route) DO UPDATE SET revision = excluded.revision,"
                " body = excluded.body",
                route,
                current + 1,
                text,
            )
        return current + 1

    async def delete_plan(self, route: str, *, expected_revision: int = UNCONDITIONAL) -> bool:
        async with self._conn() as conn, conn.transaction():
            await _locked_revision(conn, route, expected_revision)
            status = await conn.execute("DELETE FROM strangler_plans WHERE route = $1", route)
        return bool(status != "DELETE 0")

    # history ------------------------------------------------------------------------------------
    async def record(self, route: str, body: dict[str, Any]) -> None:
        async with self._conn() as conn:
            entry_id = await conn.fetchval(
                "INSERT INTO strangler_plan_history (route, at, body)"
                " VALUES ($1, extract(epoch FROM clock_timestamp()), $2::jsonb) RETURNING id",
                route,
                json.dumps(body, separators=(",", ":")),
            )
            if entry_id % 100 == 0:
                await conn.execute(
                    "DELETE FROM strangler_plan_history WHERE id <= $1", entry_id - HISTORY_LIMIT
                )

    async def history(self, *, route: str | None = None, limit: int = 50) -> list[HistoryEntry]:
        if limit < 0:
            raise ValueError("limit must not be negative")
        async with self._conn() as conn:
            if route is None:
                rows = await conn.fetch(
                    "SELECT id, route, at, body::text FROM strangler_plan_history"
                    " ORDER BY id DESC LIMIT $1",
                    limit,
                )
            else:
                rows = await conn.fetch(
                    "SELECT id, route, at, body::text FROM strangler_plan_history"
                    " WHERE route = $1 ORDER BY id DESC LIMIT $2",
                    route,
                    limit,
                )
        return [HistoryEntry(int(r[0]), r[1], float(r[2]), json.loads(r[3])) for r in rows]

    # lease --------------------------------------------------------------------------------------
    async def acquire(self, name: str, holder: str, ttl: float) -> Lease:
        async with self._conn() as conn:
            row = await conn.fetchrow(
                "INSERT INTO strangler_leases AS l (name, holder, term, expires_at)"
                " VALUES ($1, $2, 1, clock_timestamp() + make_interval(secs => $3))"
                " ON CONFLICT (name) DO UPDATE SET"
                "  term = CASE WHEN l.holder = excluded.holder THEN l.term ELSE l.term + 1 END,"
                "  holder = excluded.holder, expires_at = excluded.expires_at"
                " WHERE l.holder = excluded.holder OR l.expires_at <= clock_timestamp()"
                " RETURNING holder, term",
                name,
                holder,
                float(ttl),
            )
            if row is not None:
                return Lease(row[0], int(row[1]), ttl)
            current = await conn.fetchrow(
                "SELECT holder, term,"
                " extract(epoch FROM expires_at - clock_timestamp()) FROM strangler_leases"
                " WHERE name = $1",
                name,
            )
        return Lease(current[0], int(current[1]), max(0.0, float(current[2])))

    async def release(self, name: str, holder: str) -> None:
        async with self._conn() as conn:
            await conn.execute(
                "UPDATE strangler_leases SET expires_at = clock_timestamp()"
                " WHERE name = $1 AND holder = $2",
                name,
                holder,
            )

    async def lease(self, name: str) -> Lease | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(
                "SELECT holder, term, extract(epoch FROM expires_at - clock_timestamp())"
                " FROM strangler_leases WHERE name = $1",
                name,
            )
        if row is None or float(row[2]) <= 0:
            return None
        return Lease(row[0], int(row[1]), float(row[2]))

    # worker figures -----------------------------------------------------------------------------
    async def publish(self, worker: str, body: dict[str, Any]) -> None:
        async with self._conn() as conn:
            await conn.execute(
                "INSERT INTO strangler_worker_figures (worker, at, body)"
                " VALUES ($1, clock_timestamp(), $2::jsonb)"
                " ON CONFLICT (worker) DO UPDATE SET at = excluded.at, body = excluded.body",
                worker,
                json.dumps(body, separators=(",", ":")),
            )

    async def collect(self, *, max_age: float) -> dict[str, dict[str, Any]]:
        async with self._conn() as conn:
            await conn.execute(
                "DELETE FROM strangler_worker_figures"
                " WHERE at < clock_timestamp() - make_interval(secs => $1)",
                float(max_age),
            )
            rows = await conn.fetch("SELECT worker, body::text FROM strangler_worker_figures")
        return {r[0]: json.loads(r[1]) for r in rows}


async def _locked_revision(conn: Any, route: str, expected_revision: int) -> int:
    """Lock one route's plan for this transaction, read its revision (0: none) and check it.

    An advisory lock, so writers of one route queue even for the first plan (no row to lock).
    """
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", route)
    current = int(
        await conn.fetchval("SELECT revision FROM strangler_plans WHERE route = $1", route) or 0
    )
    if expected_revision != UNCONDITIONAL and current != expected_revision:
        raise VersionConflict(expected_revision, current)
    return current
