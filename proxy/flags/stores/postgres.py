"""Keep the flag table in PostgreSQL: three tables of its own, LISTEN/NOTIFY for changes.

The tables (``strangler_state``, ``strangler_flags``, ``strangler_events``) are created only by
:meth:`PostgresFlagStore.create` (``resync-strangler flags init``, a proxy's first start with its
flag file); missing tables are a missing store that every writer refuses. They belong to the
proxy, not to the application's Alembic schema: the proxy is generic and may share a database
with any app. A change locks the single state row (``FOR UPDATE``), so writers queue instead of
retrying, and bumps it with ``UPDATE ... WHERE version = $1``; the ``NOTIFY strangler_flags,
'<version>'`` it sends is delivered at commit. Each subscriber LISTENs on a dedicated connection
that it re-opens when it drops, and polls the version as a safety net for notifications sent
while it was reconnecting.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import structlog

from proxy.errors import StoreError, StoreMissing, StoreUnavailable, VersionConflict
from proxy.flags.stores.base import (
    FlagStore,
    StoreIdentity,
    VersionCallback,
    check_page,
    new_store_id,
    plan_changes,
    retry_once_if_unavailable,
    utc_now,
)
from proxy.flags.stores.pgpool import close_pool, open_pool, pooled
from proxy.modes import FlagChange, FlagEvent, FlagTable, Mode, RouteFlag

__all__ = ["PostgresFlagStore"]

log = structlog.get_logger("proxy.flags.stores.postgres")

CHANNEL = "strangler_flags"
MAX_RECONNECT_BACKOFF = 5.0
# Any constant works: it only serialises concurrent CREATE TABLE IF NOT EXISTS at first start,
# which PostgreSQL does not make race-free on its own.
_SCHEMA_LOCK_KEY = 0x5354524E  # "STRN"

SCHEMA = """
CREATE TABLE IF NOT EXISTS strangler_state (
    id smallint PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL,
    store_id text,
    replaces text
);
ALTER TABLE strangler_state ADD COLUMN IF NOT EXISTS store_id text;
ALTER TABLE strangler_state ADD COLUMN IF NOT EXISTS replaces text;
CREATE TABLE IF NOT EXISTS strangler_flags (
    route text PRIMARY KEY,
    mode text NOT NULL,
    percent integer NOT NULL DEFAULT 0 CHECK (percent BETWEEN 0 AND 100),
    dry_run boolean NOT NULL DEFAULT false,
    updated_at timestamptz,
    updated_by text
);
CREATE TABLE IF NOT EXISTS strangler_events (
    id bigserial PRIMARY KEY,
    version bigint NOT NULL,
    route text NOT NULL,
    from_mode text,
    to_mode text NOT NULL,
    percent integer NOT NULL,
    actor text NOT NULL,
    reason text NOT NULL,
    at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS strangler_events_route ON strangler_events (route, id);
"""

_FLAG_COLUMNS = "route, mode, percent, dry_run, updated_at, updated_by"
_EVENT_COLUMNS = "id, version, route, from_mode, to_mode, percent, actor, reason, at"


class PostgresFlagStore(FlagStore):
    """A flag store in PostgreSQL tables, shared by every worker and host that can reach it."""

    def __init__(
        self,
        url: str,
        *,
        poll_interval: float = 1.0,
        timeout: float = 5.0,
        keepalive_interval: float = 10.0,
        max_connections: int = 4,
    ) -> None:
        self.url = url
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.keepalive_interval = keepalive_interval
        self.max_connections = max_connections
        self._pool: asyncpg.Pool | None = None
        self._wanted = False  # open() was called and close() was not: retry a failed open

    def __repr__(self) -> str:
        parts = urlsplit(self.url)
        return f"PostgresFlagStore('{parts.hostname}:{parts.port or 5432}{parts.path}')"

    async def open(self) -> None:
        self._wanted = True
        await self._ensure_pool()
        async with self._connection() as conn:
            await self._upgrade_identity(conn)

    async def create(self) -> bool:
        self._wanted = True
        await self._ensure_pool()
        async with self._connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK_KEY)
            await conn.execute(SCHEMA)
            status = await conn.execute(
                "INSERT INTO strangler_state (id, version, store_id) VALUES (1, 0, $1)"
                " ON CONFLICT (id) DO NOTHING",
                new_store_id(),
            )
            await conn.execute(
                "UPDATE strangler_state SET store_id = $1 WHERE id = 1 AND store_id IS NULL",
                new_store_id(),
            )
        return bool(status == "INSERT 0 1")

    async def identity(self) -> StoreIdentity:
        return await retry_once_if_unavailable(self._current_identity)

    async def _current_identity(self) -> StoreIdentity:
        async with self._connection() as conn:
            return await self._identity(conn)

    async def adopt(self, replaces: str) -> StoreIdentity:
        async with self._connection() as conn, conn.transaction():
            await self._identity(conn, lock=True)
            await conn.execute(
                "UPDATE strangler_state SET store_id = $1, replaces = $2 WHERE id = 1",
                new_store_id(),
                replaces,
            )
            identity = await self._identity(conn)
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, str(identity.version))
        return identity

    async def _upgrade_identity(self, conn: Any) -> None:
        """Check the tables exist; give a store made before identities its identity."""
        try:
            store_id = await conn.fetchval("SELECT store_id FROM strangler_state WHERE id = 1")
        except asyncpg.exceptions.UndefinedColumnError:
            store_id = None
        if store_id is not None:
            return
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK_KEY)
            await conn.execute(
                "ALTER TABLE strangler_state ADD COLUMN IF NOT EXISTS store_id text;"
                " ALTER TABLE strangler_state ADD COLUMN IF NOT EXISTS replaces text"
            )
            await self._identity(conn)  # no state row: not a store
            await conn.execute(
                "UPDATE strangler_state SET store_id = $1 WHERE id = 1 AND store_id IS NULL",
                new_store_id(),
            )

    async def _ensure_pool(self) -> None:
        """Create the pool; failures leave the store to try again on next use."""
        if self._pool is not None:
            return
        self._pool = await open_pool(
            self.url,
            owner=self,
            max_size=self.max_connections,
            seconds=self.timeout,
            application_name="strangler-flags",
        )

    async def close(self) -> None:
        self._wanted = False
        pool, self._pool = self._pool, None
        if pool is not None:
            await close_pool(pool, self.timeout)

    async def load(self) -> FlagTable:
        return await retry_once_if_unavailable(self._load)

    async def _load(self) -> FlagTable:
        async with (
            self._connection() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            identity = await self._identity(conn)
            rows = await conn.fetch(f"SELECT {_FLAG_COLUMNS} FROM strangler_flags")  # noqa: S608  # constant columns
        return FlagTable.from_flags(
            identity.version,
            (_flag_from_row(row) for row in rows),
            store_id=identity.store_id,
            replaces=identity.replaces,
        )

    async def version(self) -> int:
        return await retry_once_if_unavailable(self._current_version)

    async def _current_version(self) -> int:
        async with self._connection() as conn:
            return await self._version(conn)

    async def _set_flags(
        self, changes: list[FlagChange], actor: str, reason: str, expected: int | None
    ) -> FlagTable:
        expected_version = expected
        async with self._connection() as conn, conn.transaction():
            identity = await self._identity(conn, lock=True)
            version = identity.version
            if expected_version is not None and version != expected_version:
                raise VersionConflict(expected_version, version)
            rows = await conn.fetch(f"SELECT {_FLAG_COLUMNS} FROM strangler_flags")  # noqa: S608  # constant columns
            current = {row["route"]: _flag_from_row(row) for row in rows}
            at = utc_now()
            planned = plan_changes(current, changes, actor=actor, at=at)
            if not planned:
                return FlagTable(version, current, identity.store_id, identity.replaces)
            status = await conn.execute(
                "UPDATE strangler_state SET version = version + 1 WHERE id = 1 AND version = $1",
                version,
            )
            if status != "UPDATE 1":  # the row lock makes this impossible; stated, not assumed
                raise VersionConflict(version, await self._version(conn))
            new_version = version + 1
            await conn.executemany(
                f"INSERT INTO strangler_flags ({_FLAG_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"  # noqa: S608  # constant columns
                " ON CONFLICT (route) DO UPDATE SET mode = excluded.mode,"
                " percent = excluded.percent, dry_run = excluded.dry_run,"
                " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                [
                    (i.flag.route, i.flag.mode.value, i.flag.percent, i.flag.dry_run, at, actor)
                    for i in planned
                ],
            )
            await conn.executemany(
                "INSERT INTO strangler_events"
                " (version, route, from_mode, to_mode, percent, actor, reason, at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                [
                    (
                        new_version,
                        i.flag.route,
                        i.from_mode,
                        i.flag.mode.value,
                        i.flag.percent,
                        actor,
                        reason,
                        at,
                    )
                    for i in planned
                ],
            )
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, str(new_version))
            for item in planned:
                current[item.flag.route] = item.flag
        return FlagTable(new_version, current, identity.store_id, identity.replaces)

    async def events(
        self, *, limit: int = 50, offset: int = 0, route: str | None = None
    ) -> list[FlagEvent]:
        check_page(limit, offset)
        async with self._connection() as conn:
            if route is None:
                rows = await conn.fetch(
                    f"SELECT {_EVENT_COLUMNS} FROM strangler_events"  # noqa: S608  # constant columns
                    " ORDER BY id DESC LIMIT $1 OFFSET $2",
                    limit,
                    offset,
                )
            else:
                rows = await conn.fetch(
                    f"SELECT {_EVENT_COLUMNS} FROM strangler_events WHERE route = $1"  # noqa: S608  # constant columns
                    " ORDER BY id DESC LIMIT $2 OFFSET $3",
                    route,
                    limit,
                    offset,
                )
        return [
            FlagEvent(
                id=row["id"],
                version=row["version"],
                route=row["route"],
                from_mode=row["from_mode"],
                to_mode=row["to_mode"],
                percent=row["percent"],
                actor=row["actor"],
                reason=row["reason"],
                at=row["at"],
            )
            for row in rows
        ]

    async def count_events(self, *, route: str | None = None) -> int:
        async with self._connection() as conn:
            if route is None:
                return int(await conn.fetchval("SELECT count(*) FROM strangler_events"))
            return int(
                await conn.fetchval("SELECT count(*) FROM strangler_events WHERE route = $1", route)
            )

    async def is_empty(self) -> bool:
        async with self._connection() as conn:
            return not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM strangler_flags)")

    async def _listen(self, notify: VersionCallback) -> None:
        """LISTEN on a dedicated connection; on any drop, reconnect and catch up on the version."""
        backoff = 0.1
        while True:
            try:
                await self._listen_once(notify)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the listener must outlive any failure
                log.debug("flag_store_listener_lost", store=repr(self), error=repr(exc))
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_RECONNECT_BACKOFF)

    async def _listen_once(self, notify: VersionCallback) -> None:
        payloads: asyncio.Queue[str | None] = asyncio.Queue()
        connecting = asyncio.ensure_future(
            asyncpg.connect(
                self.url,
                timeout=self.timeout,
                server_settings={"application_name": "strangler-flags-listen"},
            )
        )
        try:
            # Shielded: cancelling asyncpg half-way through its TLS negotiation leaves a future
            # whose exception nobody retrieves; let the attempt finish and close it instead.
            conn = await asyncio.shield(connecting)
        except asyncio.CancelledError:
            connecting.add_done_callback(_discard_connection)
            raise
        try:
            conn.add_termination_listener(lambda _conn: payloads.put_nowait(None))
            await conn.add_listener(
                CHANNEL, lambda _conn, _pid, _channel, payload: payloads.put_nowait(payload)
            )
            # Whatever was notified while we were not listening is lost: read the version.
            await notify(await self._version(conn))
            while True:
                try:
                    payload = await asyncio.wait_for(payloads.get(), self.keepalive_interval)
                except TimeoutError:
                    # Quiet for a while: make sure the connection is still alive (a half-open
                    # TCP connection would otherwise keep us deaf until the OS gives up).
                    await conn.fetchval("SELECT 1", timeout=self.timeout)
                    continue
                if payload is None:
                    raise ConnectionError("LISTEN connection terminated")
                with contextlib.suppress(ValueError):
                    await notify(int(payload))
        finally:
            conn.terminate()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        """Yield a pooled connection, turning driver failures into the proxy's store errors."""
        if not self._wanted:
            raise StoreUnavailable(f"{self!r} is not open")
        if self._pool is None:
            # open() failed earlier (the proxy starts anyway, fail-static): try it again now.
            await self._ensure_pool()
        pool = self._pool
        assert pool is not None
        async with pooled(pool, owner=self, seconds=self.timeout, tables_missing=True) as conn:
            yield conn

    async def _version(self, conn: Any, *, lock: bool = False) -> int:
        sql = "SELECT version FROM strangler_state WHERE id = 1"
        version = await conn.fetchval(sql + (" FOR UPDATE" if lock else ""))
        if version is None:
            raise StoreMissing(self, "has no version row (not initialised)")
        return int(version)

    async def _identity(self, conn: Any, *, lock: bool = False) -> StoreIdentity:
        sql = "SELECT version, store_id, replaces FROM strangler_state WHERE id = 1"
        row = await conn.fetchrow(sql + (" FOR UPDATE" if lock else ""))
        if row is None:
            raise StoreMissing(self, "has no version row (not initialised)")
        return StoreIdentity(row["store_id"], int(row["version"]), row["replaces"])


def _discard_connection(attempt: asyncio.Future[Any]) -> None:
    if attempt.cancelled() or attempt.exception() is not None:
        return
    attempt.result().terminate()


def _flag_from_row(row: Any) -> RouteFlag:
    try:
        return RouteFlag(
            route=row["route"],
            mode=Mode(row["mode"]),
            percent=row["percent"],
            dry_run=row["dry_run"],
            updated_at=row["updated_at"],
            updated_by=row["updated_by"],
        )
    except ValueError as exc:
        raise StoreError(f"flag store holds an invalid row for {row['route']!r}: {exc}") from exc
