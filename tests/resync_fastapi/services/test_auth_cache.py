"""The auth cache: revocation, role change and deletion honoured within the documented bound.

Integration tests run the real app with the cache on (``auth_cache_seconds`` = BOUND) against
real SQLite and PostgreSQL: a change made behind the app's back (direct SQL, as the legacy app or
an admin script would) is still served from the cache right after it, and refused once BOUND has
passed; a change the app commits itself is honoured at once. Unit tests drive
:class:`AuthCache` with a fake clock for the bound and the single-flight behaviour.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from resync_fastapi.core.exceptions import InvalidToken
from resync_fastapi.services.auth_cache import AuthCache
from tests.resync_fastapi.harness import AppHarness, assert_problem, execute, mint, settings_for
from tests.services import TwsSim

ME = "/api/v1/auth/me"
BOUND = 1.0  # RESYNC_AUTH_CACHE_SECONDS for these tests


@pytest.fixture(scope="module")
def cached(module_database_url: str, tws_sim_process: TwsSim) -> Iterator[AppHarness]:
    settings = settings_for(module_database_url, tws_sim_process.twsd_url, auth_cache_seconds=BOUND)
    with AppHarness(settings) as started:
        yield started


def _new_user(url: str, role: str = "operator") -> str:
    username = f"cache_{uuid.uuid4().hex[:8]}"
    execute(
        url,
        "INSERT INTO users (username, password_hash, role, full_name, created_at)"
        " VALUES (:u, 'x', :r, '', :c)",
        u=username,
        r=role,
        c=datetime.now(UTC).replace(tzinfo=None, microsecond=0),
    )
    return username


def _revoke(url: str, token_id: str) -> None:
    later = datetime.now(UTC).replace(tzinfo=None, microsecond=0) + timedelta(hours=1)
    execute(
        url,
        "INSERT INTO revoked_tokens (token_id, revoked_at, expires_at) VALUES (:t, :r, :e)",
        t=token_id,
        r=later - timedelta(hours=1),
        e=later,
    )


def _after_the_bound() -> None:
    time.sleep(BOUND + 0.1)


@pytest.mark.parametrize("claim", ["jti", "sid"])
def test_a_revocation_made_elsewhere_is_honoured_within_the_bound(
    cached: AppHarness, module_database_url: str, claim: str
) -> None:
    username = _new_user(module_database_url)
    token_id = uuid.uuid4().hex
    token = mint(username, "operator", **{claim: token_id})
    assert cached.get(ME, token=token).status_code == 200
    _revoke(module_database_url, token_id)
    assert cached.get(ME, token=token).status_code == 200  # served from the cache meanwhile
    _after_the_bound()
    assert_problem(cached.get(ME, token=token), 401, "unauthorized")


def test_a_role_change_made_elsewhere_is_honoured_within_the_bound(
    cached: AppHarness, module_database_url: str
) -> None:
    username = _new_user(module_database_url, "operator")
    token = mint(username, "operator")
    assert cached.get(ME, token=token).json()["role"] == "operator"
    execute(module_database_url, "UPDATE users SET role = 'viewer' WHERE username = :u", u=username)
    _after_the_bound()
    assert_problem(cached.get(ME, token=token), 401, "unauthorized")
    assert cached.get(ME, token=mint(username, "viewer")).json()["role"] == "viewer"


def test_a_profile_change_made_elsewhere_shows_within_the_bound(
    cached: AppHarness, module_database_url: str
) -> None:
    username = _new_user(module_database_url)
    token = mint(username, "operator")
    assert cached.get(ME, token=token).json()["full_name"] == ""
    execute(
        module_database_url, "UPDATE users SET full_name = 'Ann' WHERE username = :u", u=username
    )
    _after_the_bound()
    assert cached.get(ME, token=token).json()["full_name"] == "Ann"


def test_a_deletion_made_elsewhere_is_honoured_within_the_bound(
    cached: AppHarness, module_database_url: str
) -> None:
    username = _new_user(module_database_url)
    token = mint(username, "operator")
    assert cached.get(ME, token=token).status_code == 200
    execute(module_database_url, "DELETE FROM users WHERE username = :u", u=username)
    _after_the_bound()
    assert_problem(cached.get(ME, token=token), 401, "unauthorized")


def test_a_logout_through_this_app_is_honoured_at_once(
    cached: AppHarness, module_database_url: str
) -> None:
    username = _new_user(module_database_url)
    token = mint(username, "operator")
    other = mint(username, "operator")  # another session of the same user
    assert cached.get(ME, token=token).status_code == 200
    assert cached.get(ME, token=other).status_code == 200
    assert cached.post("/api/v1/auth/logout", token=token).status_code == 204
    assert_problem(cached.get(ME, token=token), 401, "unauthorized")
    assert cached.get(ME, token=other).status_code == 200


def test_a_dry_run_logout_revokes_nothing(cached: AppHarness, module_database_url: str) -> None:
    username = _new_user(module_database_url)
    token = mint(username, "operator")
    headers = {"X-Resync-Dry-Run": "shadow-dry-run-key"}
    assert cached.post("/api/v1/auth/logout", token=token, headers=headers).status_code == 204
    _after_the_bound()
    assert cached.get(ME, token=token).status_code == 200


# --- AuthCache on its own, with a fake clock -------------------------------------------------


class FakeDatabase:
    def __init__(self) -> None:
        self.version: int | None = 1
        self.version_reads = 0
        self.loads = 0

    async def read_version(self) -> int | None:
        self.version_reads += 1
        await asyncio.sleep(0)
        return self.version

    def loader(self, value: str):
        async def load() -> str:
            self.loads += 1
            await asyncio.sleep(0.01)
            return value

        return load


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _cache(db: FakeDatabase, clock: FakeClock, seconds: float = 1.0) -> AuthCache[str]:
    return AuthCache(db.read_version, recheck_seconds=seconds, clock=clock)


def test_the_version_is_read_at_most_once_per_bound_and_a_change_empties_the_cache() -> None:
    db, clock = FakeDatabase(), FakeClock()
    cache = _cache(db, clock)

    async def scenario() -> list[str]:
        seen = [await cache.get("t", db.loader("alice"))]
        clock.now += 0.5
        seen.append(await cache.get("t", db.loader("changed")))  # within the bound: cached
        db.version = 2
        clock.now += 0.6  # past the bound: the version is re-read, the entry dropped
        seen.append(await cache.get("t", db.loader("changed")))
        return seen

    assert asyncio.run(scenario()) == ["alice", "alice", "changed"]
    assert (db.version_reads, db.loads) == (2, 2)


def test_concurrent_misses_share_one_version_read_and_one_load() -> None:
    db, clock = FakeDatabase(), FakeClock()
    cache = _cache(db, clock)

    async def scenario() -> list[str]:
        return await asyncio.gather(*(cache.get("t", db.loader("alice")) for _ in range(50)))

    assert asyncio.run(scenario()) == ["alice"] * 50
    assert (db.version_reads, db.loads) == (1, 1)


def test_a_refused_token_is_not_cached() -> None:
    db, clock = FakeDatabase(), FakeClock()
    cache = _cache(db, clock)

    async def refuse() -> str:
        db.loads += 1
        raise InvalidToken()

    async def scenario() -> None:
        for _ in range(2):
            with pytest.raises(InvalidToken):
                await cache.get("t", refuse)

    asyncio.run(scenario())
    assert db.loads == 2


def test_a_value_loaded_across_a_version_change_is_not_kept() -> None:
    db, clock = FakeDatabase(), FakeClock()
    cache = _cache(db, clock)

    async def scenario() -> None:
        await cache.get("warm", db.loader("x"))

        async def slow_load() -> str:
            # While this user row is read, a change lands and another request notices it.
            db.version = 2
            clock.now += 2
            await cache.get("other", db.loader("y"))
            return "stale?"

        await cache.get("t", slow_load)
        assert await cache.get("t", db.loader("fresh")) == "fresh"

    asyncio.run(scenario())


def test_invalidate_forces_a_version_read_and_zero_turns_the_cache_off() -> None:
    db, clock = FakeDatabase(), FakeClock()
    cache = _cache(db, clock)

    async def scenario() -> None:
        await cache.get("t", db.loader("a"))
        cache.invalidate()
        assert await cache.get("t", db.loader("b")) == "b"
        off = _cache(db, clock, seconds=0)
        assert not off.enabled
        assert await off.get("t", db.loader("c")) == "c"
        assert await off.get("t", db.loader("d")) == "d"

    asyncio.run(scenario())
    assert db.version_reads == 2


def test_without_an_auth_version_row_nothing_is_cached() -> None:
    db, clock = FakeDatabase(), FakeClock()
    db.version = None
    cache = _cache(db, clock)

    async def scenario() -> list[str]:
        return [await cache.get("t", db.loader(value)) for value in ("a", "b")]

    assert asyncio.run(scenario()) == ["a", "b"]
