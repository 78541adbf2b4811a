"""Keep the flag table in Redis: a hash of routes, a version counter, pub/sub for changes.

Keys (``strangler`` is the default prefix)::

    strangler:flags            hash   route -> JSON {mode, percent, dry_run, updated_at, updated_by}
    strangler:version          string the table's version
    strangler:store_id         string the store's identity (a UUID written at creation)
    strangler:replaces         string the identity ``flags adopt`` declared it replaces
    strangler:events           list   every event as JSON, newest first
    strangler:events:<route>   list   the same, for one route
    strangler:event_seq        string last event id handed out

A change is an optimistic transaction: ``WATCH`` the version and the hash, read them, plan the
change, then ``MULTI``/``EXEC`` the writes together with ``PUBLISH strangler:flags <version>``.
``EXEC`` fails if another writer got in between, and the change is planned again (or a
:class:`~proxy.errors.VersionConflict` is raised when the caller asked for a specific version).
Pub/sub messages are lost while a subscriber reconnects, so subscribers also poll the version.
Only :meth:`RedisFlagStore.create` writes the version and identity keys; without them (a flushed
or evicted database, another prefix) the store is missing and every writer refuses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
import structlog
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

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
from proxy.modes import FlagChange, FlagEvent, FlagTable, Mode, RouteFlag

__all__ = ["RedisFlagStore", "redis_client"]

log = structlog.get_logger("proxy.flags.stores.redis")

MAX_RECONNECT_BACKOFF = 5.0

# KEYS: version, store_id. ARGV: a new id. Create both when neither exists (returns 1); give a
# store made before identities (a version, no id) its id (returns 0). One atomic step.
_CREATE = """
if redis.call('exists', KEYS[1]) == 0 and redis.call('exists', KEYS[2]) == 0 then
  redis.call('set', KEYS[2], ARGV[1])
  redis.call('set', KEYS[1], 0)
  return 1
end
if redis.call('exists', KEYS[1]) == 1 then
  redis.call('set', KEYS[2], ARGV[1], 'NX')
end
return 0
"""


def redis_client(url: str, *, seconds: float, name: str, fail_fast: bool) -> aioredis.Redis:
    """A client for the proxy's own keys (the flag store's, the rollout's), text in and out.

    ``seconds`` bounds connecting and each command; ``name`` is shown by ``CLIENT LIST``, so an
    operator can tell (and kill) these connections. redis-py's default retries hide an outage
    for seconds per command: ``fail_fast`` retries twice within half a second instead.
    """
    options: dict[str, Any] = {}
    if fail_fast:
        options["retry"] = Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2)
    return aioredis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=seconds,
        socket_connect_timeout=seconds,
        client_name=name,
        **options,
    )


class RedisFlagStore(FlagStore):
    """A flag store in Redis, shared by every worker and host that can reach it."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "strangler",
        poll_interval: float = 1.0,
        socket_timeout: float = 2.0,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.poll_interval = poll_interval
        self.socket_timeout = socket_timeout
        self.flags_key = f"{prefix}:flags"
        self.version_key = f"{prefix}:version"
        self.store_id_key = f"{prefix}:store_id"
        self.replaces_key = f"{prefix}:replaces"
        self.events_key = f"{prefix}:events"
        self.sequence_key = f"{prefix}:event_seq"
        self.channel = f"{prefix}:flags"
        # Shown by CLIENT LIST, so an operator can tell (and kill) this store's connections.
        self.client_name = f"{prefix}-flags".replace(" ", "_")
        self._client: aioredis.Redis | None = None

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisFlagStore:
        """Build a store from a URL whose optional ``?prefix=`` query names the key prefix."""
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        if "prefix" in query:
            options.setdefault("prefix", query.pop("prefix"))
        url = urlunsplit(parts._replace(query=urlencode(query)))
        return cls(url, **options)

    def __repr__(self) -> str:
        parts = urlsplit(self.url)
        host = parts.hostname or parts.path  # unix:// URLs keep the socket in the path
        where = f"{host}:{parts.port}" if parts.port else host
        return f"RedisFlagStore({where!r}, prefix={self.prefix!r})"

    def route_events_key(self, route: str) -> str:
        """The key of one route's event list."""
        return f"{self.events_key}:{route}"

    async def open(self) -> None:
        client = self._connect()
        async with self._translate():
            version, store_id = await client.mget(self.version_key, self.store_id_key)
            if version is None:
                raise StoreMissing(self, "has no version key")
            if store_id is None:  # a store made before identities: give it one
                await client.set(self.store_id_key, new_store_id(), nx=True)

    async def create(self) -> bool:
        client = self._connect()
        async with self._translate():
            created = await client.eval(
                _CREATE, 2, self.version_key, self.store_id_key, new_store_id()
            )
        return bool(int(created))

    async def identity(self) -> StoreIdentity:
        async with self._translate() as client:
            version, store_id, replaces = await client.mget(
                self.version_key, self.store_id_key, self.replaces_key
            )
        return StoreIdentity(_text(store_id), self._version(version), _text(replaces))

    async def adopt(self, replaces: str) -> StoreIdentity:
        async with self._translate() as client, client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(self.version_key, self.store_id_key)
                    version = self._version(await pipe.get(self.version_key))
                    pipe.multi()
                    pipe.set(self.store_id_key, new_store_id())
                    pipe.set(self.replaces_key, replaces)
                    pipe.publish(self.channel, str(version))
                    await pipe.execute()
                    break
                except WatchError:
                    continue
        return await self.identity()

    def _connect(self) -> aioredis.Redis:
        if self._client is None:
            # Fail fast: the watcher's check retries on its own schedule.
            self._client = redis_client(
                self.url, seconds=self.socket_timeout, name=self.client_name, fail_fast=True
            )
        return self._client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def load(self) -> FlagTable:
        return await retry_once_if_unavailable(self._load)

    async def _load(self) -> FlagTable:
        async with self._translate() as client, client.pipeline(transaction=True) as pipe:
            pipe.mget(self.version_key, self.store_id_key, self.replaces_key)
            pipe.hgetall(self.flags_key)
            (version, store_id, replaces), raw = await pipe.execute()
        return FlagTable.from_flags(
            self._version(version), _decode_flags(raw), store_id=store_id, replaces=replaces
        )

    async def version(self) -> int:
        async with self._translate() as client:
            return self._version(await client.get(self.version_key))

    def _version(self, raw: object) -> int:
        if raw is None:
            raise StoreMissing(self, "has no version key")
        return int(raw)  # type: ignore[call-overload]

    async def _set_flags(
        self, changes: list[FlagChange], actor: str, reason: str, expected: int | None
    ) -> FlagTable:
        async with self._translate() as client, client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    return await self._try_set(pipe, changes, actor, reason, expected)
                except WatchError:
                    continue  # another writer committed between WATCH and EXEC: plan again

    async def _try_set(
        self,
        pipe: Any,
        changes: list[FlagChange],
        actor: str,
        reason: str,
        expected_version: int | None,
    ) -> FlagTable:
        await pipe.watch(self.version_key, self.flags_key, self.store_id_key)
        raw_version, store_id, replaces = await pipe.mget(
            self.version_key, self.store_id_key, self.replaces_key
        )
        if raw_version is None:
            await pipe.unwatch()
        version = self._version(raw_version)
        if expected_version is not None and version != expected_version:
            await pipe.unwatch()
            raise VersionConflict(expected_version, version)
        current = {flag.route: flag for flag in _decode_flags(await pipe.hgetall(self.flags_key))}
        at = utc_now()
        planned = plan_changes(current, changes, actor=actor, at=at)
        if not planned:
            # Nothing to EXEC, so WATCH cannot tell whether the version and the hash were read
            # from one state: a writer may have committed between the two reads. Every change
            # bumps the version, so an unchanged version means they were; else plan again.
            if self._version(await pipe.get(self.version_key)) != version:
                await pipe.unwatch()
                raise WatchError("the table moved while it was read")
            await pipe.unwatch()
            return FlagTable(version, current, store_id, replaces)
        # Ids are handed out after WATCH, so a committed change always has larger ids than
        # every change committed before it; a lost race only leaves a gap.
        last_id = int(await pipe.incrby(self.sequence_key, len(planned)))
        new_version = version + 1
        pipe.multi()
        pipe.set(self.version_key, new_version)
        pipe.hset(
            self.flags_key,
            mapping={item.flag.route: _encode_flag(item.flag) for item in planned},
        )
        for offset, item in enumerate(planned):
            event = {
                "id": last_id - len(planned) + 1 + offset,
                "version": new_version,
                "route": item.flag.route,
                "from": item.from_mode,
                "to": item.flag.mode.value,
                "percent": item.flag.percent,
                "actor": actor,
                "reason": reason,
                "at": at.isoformat(),
            }
            encoded = json.dumps(event, separators=(",", ":"))
            pipe.lpush(self.events_key, encoded)
            pipe.lpush(self.route_events_key(item.flag.route), encoded)
            current[item.flag.route] = item.flag
        pipe.publish(self.channel, str(new_version))
        await pipe.execute()
        return FlagTable(new_version, current, store_id, replaces)

    async def events(
        self, *, limit: int = 50, offset: int = 0, route: str | None = None
    ) -> list[FlagEvent]:
        check_page(limit, offset)
        if limit == 0:
            return []
        key = self.events_key if route is None else self.route_events_key(route)
        async with self._translate() as client:
            raw = await client.lrange(key, offset, offset + limit - 1)
        return [_decode_event(item) for item in raw]

    async def count_events(self, *, route: str | None = None) -> int:
        key = self.events_key if route is None else self.route_events_key(route)
        async with self._translate() as client:
            return int(await client.llen(key))

    async def is_empty(self) -> bool:
        async with self._translate() as client:
            return int(await client.hlen(self.flags_key)) == 0

    async def _listen(self, notify: VersionCallback) -> None:
        """Relay versions published on the channel; resubscribe (and catch up) after a drop."""
        backoff = 0.1
        while True:
            client = self._client
            if client is None:  # closed: polling reports the outage; wait to be reopened
                await asyncio.sleep(min(self.poll_interval, 1.0))
                continue
            # Subscribe confirmations are kept: redis-py reconnects and resubscribes inside
            # get_message(), and the confirmation is the only sign that messages published
            # meanwhile were lost and the version must be read instead.
            pubsub = client.pubsub(ignore_subscribe_messages=False)
            try:
                await pubsub.subscribe(self.channel)
                while True:
                    message = await pubsub.get_message(timeout=max(self.poll_interval, 5.0))
                    if message is None:
                        continue
                    if message.get("type") == "subscribe":
                        with contextlib.suppress(StoreMissing):
                            await notify(self._version(await client.get(self.version_key)))
                        backoff = 0.1
                    elif message.get("type") == "message":
                        with contextlib.suppress(TypeError, ValueError):
                            await notify(int(message["data"]))
            except (RedisError, OSError) as exc:
                log.debug("flag_store_subscription_lost", store=repr(self), error=repr(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_RECONNECT_BACKOFF)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()

    @contextlib.asynccontextmanager
    async def _translate(self) -> AsyncIterator[aioredis.Redis]:
        """Yield the client, turning Redis failures into the proxy's store errors."""
        client = self._client
        if client is None:
            raise StoreUnavailable(f"{self!r} is not open")
        try:
            yield client
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise StoreUnavailable(f"{self!r} unreachable: {exc}") from exc
        except WatchError:
            raise
        except RedisError as exc:
            raise StoreError(f"{self!r} failed: {exc}") from exc


def _encode_flag(flag: RouteFlag) -> str:
    return json.dumps(
        {
            "mode": flag.mode.value,
            "percent": flag.percent,
            "dry_run": flag.dry_run,
            "updated_at": flag.updated_at.isoformat() if flag.updated_at else None,
            "updated_by": flag.updated_by,
        },
        separators=(",", ":"),
    )


def _decode_flags(raw: dict[str, str]) -> list[RouteFlag]:
    flags = []
    for route, encoded in raw.items():
        try:
            data = json.loads(encoded)
            flags.append(
                RouteFlag(
                    route=route,
                    mode=Mode(data["mode"]),
                    percent=int(data.get("percent", 0)),
                    dry_run=bool(data.get("dry_run", False)),
                    updated_at=_timestamp(data.get("updated_at")),
                    updated_by=data.get("updated_by"),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"flag store holds an invalid entry for {route!r}: {exc}") from exc
    return flags


def _decode_event(encoded: str | bytes) -> FlagEvent:
    try:
        data = json.loads(encoded)
        return FlagEvent(
            id=int(data["id"]),
            version=int(data["version"]),
            route=data["route"],
            from_mode=data["from"],
            to_mode=data["to"],
            percent=int(data["percent"]),
            actor=data["actor"],
            reason=data["reason"],
            at=datetime.fromisoformat(data["at"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"flag store holds an invalid event: {exc}") from exc


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _timestamp(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
