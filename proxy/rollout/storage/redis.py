"""Rollout plans, history, lease and worker figures in the flag store's Redis key space.

Keys (``strangler`` is the flag store's prefix)::

    strangler:plans                 hash  route -> plan document (JSON)
    strangler:plan_revisions        hash  route -> revision
    strangler:plan_history          list  every entry, newest first (capped)
    strangler:plan_history:<route>  list  the same, one route
    strangler:plan_history_seq      string last entry id
    strangler:lease:<name>          string "holder|term", with the lease's time to live (PX)
    strangler:lease_term:<name>     string last term handed out
    strangler:worker_figures        hash  worker -> {"at", "body"} (JSON)

Compare-and-set and the lease are small Lua scripts, so each is one atomic step on the server
and expiry is Redis's own clock.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from proxy.errors import StoreError, StoreUnavailable, VersionConflict
from proxy.flags.stores.redis import redis_client
from proxy.rollout.storage.base import (
    UNCONDITIONAL,
    HistoryEntry,
    Lease,
    PlanDocument,
    RolloutStore,
)

__all__ = ["RedisRolloutStore"]

HISTORY_LIMIT = 10_000

_PUT = """
local rev = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local expected = tonumber(ARGV[2])
if expected ~= -1 and rev ~= expected then return {0, rev} end
if ARGV[3] == '' then
  local existed = redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return {1, existed}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], rev + 1)
return {1, rev + 1}
"""

_ACQUIRE = """
local value = redis.call('GET', KEYS[1])
if value then
  local holder, term = string.match(value, '^(.*)|(%d+)$')
  if holder == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {holder, term, tonumber(ARGV[2])}
  end
  return {holder, term, redis.call('PTTL', KEYS[1])}
end
local term = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. term, 'PX', ARGV[2])
return {ARGV[1], tostring(term), tonumber(ARGV[2])}
"""

_RELEASE = """
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. '|' then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisRolloutStore(RolloutStore):
    """The rollout keys next to a Redis flag store's (same server, same prefix)."""

    def __init__(self, url: str, *, prefix: str = "strangler", socket_timeout: float = 2.0) -> None:
        self.url = url
        self.prefix = prefix
        self.socket_timeout = socket_timeout
        self._client: aioredis.Redis | None = None

    def __repr__(self) -> str:
        return f"RedisRolloutStore(prefix={self.prefix!r})"

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    async def open(self) -> None:
        if self._client is None:
            self._client = redis_client(
                self.url,
                seconds=self.socket_timeout,
                name=f"{self.prefix}-rollout".replace(" ", "_"),
                fail_fast=False,
            )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    @contextlib.asynccontextmanager
    async def _redis(self) -> AsyncIterator[aioredis.Redis]:
        if self._client is None:
            await self.open()
        assert self._client is not None
        try:
            yield self._client
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise StoreUnavailable(f"{self!r} unreachable: {exc}") from exc
        except RedisError as exc:
            raise StoreError(f"{self!r} failed: {exc}") from exc

    # plans --------------------------------------------------------------------------------------
    async def plans(self) -> list[PlanDocument]:
        async with self._redis() as client, client.pipeline(transaction=True) as pipe:
            pipe.hgetall(self._key("plans"))
            pipe.hgetall(self._key("plan_revisions"))
            bodies, revisions = await pipe.execute()
        return [
            PlanDocument(route, int(revisions.get(route, 0)), json.loads(bodies[route]))
            for route in sorted(bodies)
        ]

    async def plan(self, route: str) -> PlanDocument | None:
        async with self._redis() as client, client.pipeline(transaction=True) as pipe:
            pipe.hget(self._key("plans"), route)
            pipe.hget(self._key("plan_revisions"), route)
            body, revision = await pipe.execute()
        return PlanDocument(route, int(revision or 0), json.loads(body)) if body else None

    async def _put(self, route: str, text: str, expected: int) -> tuple[int, int]:
        async with self._redis() as client:
            ok, value = await client.eval(
                _PUT, 2, self._key("plans"), self._key("plan_revisions"), route, expected, text
            )
        return int(ok), int(value)

    async def put_plan(
        self, route: str, body: dict[str, Any], *, expected_revision: int = UNCONDITIONAL
    ) -> int:
        ok, value = await self._put(
            route, json.dumps(body, separators=(",", ":")), expected_revision
        )
        if not ok:
            raise VersionConflict(expected_revision, value)
        return value

    async def delete_plan(self, route: str, *, expected_revision: int = UNCONDITIONAL) -> bool:
        ok, value = await self._put(route, "", expected_revision)
        if not ok:
            raise VersionConflict(expected_revision, value)
        return bool(value)

    # history ------------------------------------------------------------------------------------
    async def record(self, route: str, body: dict[str, Any]) -> None:
        async with self._redis() as client:
            entry_id = int(await client.incr(self._key("plan_history_seq")))
            text = json.dumps(
                {"id": entry_id, "route": route, "at": time.time(), "body": body},
                separators=(",", ":"),
            )
            async with client.pipeline(transaction=True) as pipe:
                for key in (self._key("plan_history"), self._key("plan_history", route)):
                    pipe.lpush(key, text)
                    pipe.ltrim(key, 0, HISTORY_LIMIT - 1)
                await pipe.execute()

    async def history(self, *, route: str | None = None, limit: int = 50) -> list[HistoryEntry]:
        if limit < 0:
            raise ValueError("limit must not be negative")
        if limit == 0:
            return []
        key = self._key("plan_history") if route is None else self._key("plan_history", route)
        async with self._redis() as client:
            raw = await client.lrange(key, 0, limit - 1)
        entries = []
        for item in raw:
            data = json.loads(item)
            entries.append(HistoryEntry(data["id"], data["route"], data["at"], data["body"]))
        return entries

    # lease --------------------------------------------------------------------------------------
    async def acquire(self, name: str, holder: str, ttl: float) -> Lease:
        async with self._redis() as client:
            got, term, remaining_ms = await client.eval(
                _ACQUIRE,
                2,
                self._key("lease", name),
                self._key("lease_term", name),
                holder,
                max(1, int(ttl * 1000)),
            )
        return Lease(str(got), int(term), max(0, int(remaining_ms)) / 1000)

    async def release(self, name: str, holder: str) -> None:
        async with self._redis() as client:
            await client.eval(_RELEASE, 1, self._key("lease", name), holder)

    async def lease(self, name: str) -> Lease | None:
        async with self._redis() as client, client.pipeline(transaction=True) as pipe:
            pipe.get(self._key("lease", name))
            pipe.pttl(self._key("lease", name))
            value, remaining_ms = await pipe.execute()
        if not value:
            return None
        holder, _, term = str(value).rpartition("|")
        return Lease(holder, int(term), max(0, int(remaining_ms)) / 1000)

    # worker figures -----------------------------------------------------------------------------
    async def publish(self, worker: str, body: dict[str, Any]) -> None:
        text = json.dumps({"at": time.time(), "body": body}, separators=(",", ":"))
        async with self._redis() as client:
            await client.hset(self._key("worker_figures"), worker, text)

    async def collect(self, *, max_age: float) -> dict[str, dict[str, Any]]:
        key = self._key("worker_figures")
        async with self._redis() as client:
            raw = await client.hgetall(key)
            oldest = time.time() - max_age
            figures: dict[str, dict[str, Any]] = {}
            stale = []
            for worker, text in raw.items():
                data = json.loads(text)
                if float(data["at"]) < oldest:
                    stale.append(worker)
                else:
                    figures[str(worker)] = data["body"]
            if stale:
                await client.hdel(key, *stale)
        return figures
