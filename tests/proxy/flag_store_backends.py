"""Run the flag store tests against every store on real services, and cut them off on demand.

Each test module using this declares two thin fixtures (a module-scoped PostgreSQL database and
a ``backend`` parametrised over :data:`BACKENDS`) that call :func:`postgres_database` and
:func:`open_backend`. A :class:`Backend` builds fresh store instances on one shared state (a
SQLite file, a Redis key prefix, a PostgreSQL database) and can make the store unreachable for
real: SQLite by moving its directory away, Redis and PostgreSQL by cutting a loopback TCP relay
that the store's connections go through.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from proxy.flags.stores import FlagStore, open_store
from tests.services import create_postgres_database, drop_postgres_database

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]

_STRANGLER_TABLES = "strangler_events, strangler_flags, strangler_state"


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], *, within: float = 10.0, what: str = ""
) -> None:
    """Poll ``check`` until it is true; fail after ``within`` seconds (a guard, not a measure)."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {within} s: {what or check}")
        await asyncio.sleep(0.02)


class TcpRelay:
    """A loopback TCP forwarder that can be cut (connections reset, port closed) and restored."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Stop listening and drop every relayed connection, like a server that went away."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        if server is not None:
            await server.wait_closed()

    async def restore(self) -> None:
        await self.start()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update({writer, up_writer})
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()


@dataclass
class Backend:
    """One store's shared state, from which tests open as many store instances as they need."""

    kind: str
    url: str
    tmp_path: Path
    _stores: list[FlagStore] = field(default_factory=list)
    _relay: TcpRelay | None = None

    async def store(
        self, *, via_relay: bool = False, opened: bool = True, **options: float
    ) -> FlagStore:
        """A new store instance; ``via_relay`` routes it through the cuttable relay.

        ``opened`` stores are created explicitly (``create()``, what ``flags init`` runs) when
        the shared state does not hold one yet: nothing else creates a store.
        """
        url = self.url
        if via_relay and self.kind != "sqlite":
            url = _with_port(url, (await self.relay()).port)
        store = open_store(url, **options)
        self._stores.append(store)
        if opened:
            await store.create()
        return store

    def unopened(self, **options: float) -> FlagStore:
        """A store instance that the test opens itself (closed at teardown all the same)."""
        store = open_store(self.url, **options)
        self._stores.append(store)
        return store

    async def relay(self) -> TcpRelay:
        if self._relay is None:
            parts = urlsplit(self.url)
            self._relay = TcpRelay(
                parts.hostname or "127.0.0.1", parts.port or _DEFAULT_PORT[self.kind]
            )
            await self._relay.start()
        return self._relay

    @contextlib.asynccontextmanager
    async def outage(self) -> AsyncIterator[None]:
        """Make stores opened ``via_relay`` (any SQLite store) unreachable inside the block."""
        if self.kind == "sqlite":
            directory = Path(urlsplit(self.url).path).parent
            away = directory.with_name(directory.name + "-away")
            directory.rename(away)
            try:
                yield
            finally:
                away.rename(directory)
            return
        relay = await self.relay()
        await relay.cut()
        try:
            yield
        finally:
            await relay.restore()

    async def close(self) -> None:
        for store in self._stores:
            with contextlib.suppress(Exception):
                await store.close()
        if self._relay is not None:
            await self._relay.cut()


_DEFAULT_PORT = {"redis": 6379, "postgresql": 5432}


def _with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


def postgres_database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """Body of a module-scoped fixture: one PostgreSQL database for the module's tests."""
    admin_url = request.getfixturevalue("postgres_admin_url")
    url = create_postgres_database(admin_url)
    try:
        yield url
    finally:
        drop_postgres_database(admin_url, url)


@contextlib.asynccontextmanager
async def open_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Body of the ``backend`` fixture: fresh, empty shared state for the parametrised store."""
    kind: str = request.param
    if kind == "sqlite":
        backend = Backend(kind, f"sqlite:///{tmp_path / 'flags' / 'strangler-flags.db'}", tmp_path)
        try:
            yield backend
        finally:
            await backend.close()
        return
    if kind == "redis":
        prefix = f"test-strangler-{uuid.uuid4().hex[:12]}"
        base = request.getfixturevalue("redis_url")
        backend = Backend(kind, f"{base}?prefix={prefix}", tmp_path)
        try:
            yield backend
        finally:
            await backend.close()
            _delete_redis_prefix(base, prefix)
        return
    url = request.getfixturevalue("postgres_flag_database")
    _drop_strangler_tables(url)
    backend = Backend(kind, url, tmp_path)
    try:
        yield backend
    finally:
        await backend.close()


def _delete_redis_prefix(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _drop_strangler_tables(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {_STRANGLER_TABLES}")
