"""The flag store contract, checked against SQLite, Redis and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from proxy.errors import InvalidFlag, StoreError, StoreUnavailable, VersionConflict
from proxy.flags.stores import (
    FlagStore,
    PostgresFlagStore,
    RedisFlagStore,
    SQLiteFlagStore,
    open_store,
)
from proxy.modes import FlagChange, FlagTable, Mode
from tests.proxy.flag_store_backends import (
    Backend,
    eventually,
    open_backend,
)
from tests.services import free_port

pytestmark = pytest.mark.anyio

AGENTS = "GET /api/v1/agents"
AGENT = "GET /api/v1/agents/{agent_id}"
CHAT = "POST /api/v1/chat"


@pytest.fixture
async def store(backend: Backend) -> FlagStore:
    return await backend.store()


async def seed(store: FlagStore) -> FlagTable:
    return await store.set_flags(
        [
            FlagChange(AGENTS, Mode.LEGACY),
            FlagChange(AGENT, Mode.LEGACY),
            FlagChange(CHAT, Mode.LEGACY),
        ],
        actor="bootstrap",
        reason="import flags.toml",
        expected_version=0,
    )


# -- loading and setting --------------------------------------------------------------------


async def test_new_store_is_empty_at_version_zero(store: FlagStore) -> None:
    assert await store.is_empty()
    assert await store.version() == 0
    assert await store.load() == FlagTable(0, {})
    assert await store.events() == []


async def test_set_flags_bumps_version_once_and_load_returns_the_same_table(
    store: FlagStore,
) -> None:
    table = await seed(store)

    assert table.version == 1
    assert set(table.flags) == {AGENTS, AGENT, CHAT}
    assert await store.version() == 1
    assert not await store.is_empty()
    assert await store.load() == table


async def test_set_flags_records_mode_percent_dry_run_and_who_changed_it(store: FlagStore) -> None:
    await seed(store)

    table = await store.set_flags(
        [FlagChange(AGENT, Mode.CANARY, percent=25), FlagChange(CHAT, Mode.SHADOW, dry_run=True)],
        actor="alice",
        reason="canary agents, shadow chat",
    )

    loaded = await store.load()
    assert loaded == table
    agent, chat = loaded.flags[AGENT], loaded.flags[CHAT]
    assert (agent.mode, agent.percent, agent.dry_run, agent.updated_by) == (
        "canary",
        25,
        False,
        "alice",
    )
    assert (chat.mode, chat.percent, chat.dry_run, chat.updated_by) == ("shadow", 0, True, "alice")
    assert agent.updated_at is not None and agent.updated_at.tzinfo is not None
    assert loaded.flags[AGENTS].updated_by == "bootstrap"


async def test_dry_run_left_unset_keeps_the_routes_current_value(store: FlagStore) -> None:
    await store.set_flags([FlagChange(CHAT, Mode.SHADOW, dry_run=True)], actor="a", reason="r")

    table = await store.set_flags([FlagChange(CHAT, Mode.SHADOW_NEW)], actor="a", reason="r")

    assert table.flags[CHAT].dry_run is True
    assert (await store.load()).flags[CHAT].dry_run is True


async def test_change_set_that_changes_nothing_keeps_version_and_writes_no_event(
    store: FlagStore,
) -> None:
    before = await seed(store)

    table = await store.set_flags(
        [FlagChange(AGENTS, Mode.LEGACY), FlagChange(AGENT, Mode.LEGACY, dry_run=False)],
        actor="bob",
        reason="no-op",
        expected_version=1,
    )

    assert table == before
    assert await store.version() == 1
    assert await store.count_events() == 3


async def test_only_routes_that_change_get_an_event(store: FlagStore) -> None:
    await seed(store)

    table = await store.set_flags(
        [FlagChange(AGENTS, Mode.LEGACY), FlagChange(AGENT, Mode.NEW)], actor="bob", reason="move"
    )

    assert table.version == 2
    events = await store.events(limit=10)
    assert [(event.version, event.route) for event in events if event.version == 2] == [(2, AGENT)]
    assert table.flags[AGENTS].updated_by == "bootstrap"


# -- compare-and-set --------------------------------------------------------------------------


async def test_stale_expected_version_raises_version_conflict_and_changes_nothing(
    store: FlagStore,
) -> None:
    await seed(store)
    await store.set_flags([FlagChange(AGENT, Mode.NEW)], actor="a", reason="first")

    with pytest.raises(VersionConflict) as caught:
        await store.set_flags(
            [FlagChange(AGENT, Mode.LEGACY)], actor="b", reason="stale", expected_version=1
        )

    assert (caught.value.expected, caught.value.actual) == (1, 2)
    table = await store.load()
    assert (table.version, table.flags[AGENT].mode) == (2, Mode.NEW)
    assert await store.count_events() == 4


async def test_two_concurrent_writers_on_one_version_exactly_one_wins(backend: Backend) -> None:
    writer_a, writer_b = await backend.store(), await backend.store()
    await seed(writer_a)

    for round_number in range(1, 6):
        version = await writer_a.version()
        results = await asyncio.gather(
            writer_a.set_flags(
                [FlagChange(AGENT, Mode.NEW, percent=round_number)],
                actor="a",
                reason="race",
                expected_version=version,
            ),
            writer_b.set_flags(
                [FlagChange(AGENT, Mode.CANARY, percent=round_number)],
                actor="b",
                reason="race",
                expected_version=version,
            ),
            return_exceptions=True,
        )
        winners = [result for result in results if isinstance(result, FlagTable)]
        losers = [result for result in results if isinstance(result, VersionConflict)]
        assert (len(winners), len(losers)) == (1, 1), results
        assert winners[0].version == version + 1
        assert await writer_b.load() == winners[0]

    assert await writer_a.count_events(route=AGENT) == 1 + 5


async def test_concurrent_writers_without_expected_version_both_apply(backend: Backend) -> None:
    writer_a, writer_b = await backend.store(), await backend.store()
    await seed(writer_a)

    await asyncio.gather(
        writer_a.set_flags([FlagChange(AGENTS, Mode.NEW)], actor="a", reason="mine"),
        writer_b.set_flags([FlagChange(CHAT, Mode.SHADOW)], actor="b", reason="theirs"),
    )

    table = await writer_a.load()
    assert table.version == 3
    assert (table.flags[AGENTS].mode, table.flags[CHAT].mode) == (Mode.NEW, Mode.SHADOW)
    assert sorted(event.version for event in await writer_a.events(limit=2)) == [2, 3]


# -- atomicity ----------------------------------------------------------------------------------


async def test_readers_never_see_half_a_change_set(backend: Backend) -> None:
    writer, reader = await backend.store(), await backend.store()
    await seed(writer)
    modes = [Mode.NEW, Mode.LEGACY] * 10

    async def write() -> None:
        for mode in modes:
            await writer.set_flags(
                [FlagChange(AGENTS, mode), FlagChange(AGENT, mode), FlagChange(CHAT, mode)],
                actor="flipper",
                reason="together",
            )

    seen: list[FlagTable] = []

    async def read(done: asyncio.Event) -> None:
        while not done.is_set():
            seen.append(await reader.load())
            await asyncio.sleep(0)

    done = asyncio.Event()
    reading = asyncio.create_task(read(done))
    await write()
    done.set()
    await reading

    assert seen
    for table in seen:
        assert len({flag.mode for flag in table}) == 1, table
        assert table.flags[AGENTS].mode == (Mode.LEGACY if table.version % 2 else Mode.NEW)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param(
            [FlagChange(AGENTS, Mode.NEW), FlagChange(AGENTS, Mode.LEGACY)], id="route-twice"
        ),
        pytest.param([FlagChange(AGENTS, Mode.NEW), "GET /x"], id="not-a-change"),
    ],
)
async def test_invalid_change_set_is_rejected_whole(
    store: FlagStore, changes: list[FlagChange]
) -> None:
    before = await seed(store)

    with pytest.raises(InvalidFlag):
        await store.set_flags(changes, actor="a", reason="bad")

    assert await store.load() == before
    assert await store.count_events() == 3


async def test_empty_actor_is_rejected(store: FlagStore) -> None:
    with pytest.raises(InvalidFlag, match="actor"):
        await store.set_flags([FlagChange(AGENTS, Mode.NEW)], actor=" ", reason="r")
    assert await store.is_empty()


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ],
)
async def test_write_failing_midway_leaves_table_version_and_events_untouched(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    """A database error on the second route of a change set rolls back the first one too."""
    request.param = kind  # open_backend reads the kind from the request, like the fixture does
    async with open_backend(request, tmp_path) as backend:
        store = await backend.store()
        before = await seed(store)
        _install_failing_trigger(backend, route=CHAT)

        with pytest.raises(StoreError):
            await store.set_flags(
                [FlagChange(AGENTS, Mode.NEW), FlagChange(CHAT, Mode.NEW)], actor="a", reason="r"
            )

        assert await store.load() == before
        assert await store.count_events() == 3


def _install_failing_trigger(backend: Backend, *, route: str) -> None:
    if backend.kind == "sqlite":
        path = backend.url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            conn.execute(
                "CREATE TRIGGER fail_chat BEFORE UPDATE ON strangler_flags"
                f" WHEN new.route = '{route}' BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
            )
        return
    import psycopg

    with psycopg.connect(backend.url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION fail_chat() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN IF new.route = '{route}' THEN RAISE EXCEPTION 'injected failure'; END IF;"
            " RETURN new; END $$"
        )
        conn.execute(
            "CREATE TRIGGER fail_chat BEFORE UPDATE ON strangler_flags"
            " FOR EACH ROW EXECUTE FUNCTION fail_chat()"
        )


# -- events -----------------------------------------------------------------------------------


async def test_events_record_from_to_percent_actor_reason_and_version(store: FlagStore) -> None:
    await seed(store)
    await store.set_flags(
        [FlagChange(AGENT, Mode.CANARY, percent=10)], actor="carol", reason="try 10%"
    )

    latest = (await store.events(limit=1))[0]

    assert (latest.version, latest.route, latest.from_mode, latest.to_mode) == (
        2,
        AGENT,
        "legacy",
        "canary",
    )
    assert (latest.percent, latest.actor, latest.reason) == (10, "carol", "try 10%")
    assert latest.at.tzinfo is not None
    first_import = (await store.events(route=AGENTS))[0]
    assert (first_import.from_mode, first_import.to_mode, first_import.version) == (
        None,
        "legacy",
        1,
    )


async def test_events_are_listed_newest_first_with_limit_offset_and_route(store: FlagStore) -> None:
    await seed(store)
    for mode in (Mode.SHADOW, Mode.CANARY, Mode.NEW):
        await store.set_flags([FlagChange(AGENT, mode)], actor="a", reason=f"to {mode}")
    await store.set_flags([FlagChange(CHAT, Mode.NEW)], actor="a", reason="chat")

    everything = await store.events(limit=100)
    assert [event.id for event in everything] == sorted(
        (event.id for event in everything), reverse=True
    )
    assert [event.version for event in everything][:4] == [5, 4, 3, 2]
    assert len({event.id for event in everything}) == len(everything) == 7
    assert await store.count_events() == 7

    page = await store.events(limit=2, offset=1)
    assert page == everything[1:3]

    agent_events = await store.events(route=AGENT)
    assert [event.to_mode for event in agent_events] == ["new", "canary", "shadow", "legacy"]
    assert await store.count_events(route=AGENT) == 4
    assert await store.events(route=AGENT, limit=1, offset=3) == agent_events[3:]
    assert await store.events(route="GET /nowhere") == []
    assert await store.events(limit=0) == []


async def test_negative_page_is_rejected(store: FlagStore) -> None:
    with pytest.raises(ValueError, match="negative"):
        await store.events(limit=-1)


# -- notifications ----------------------------------------------------------------------------


async def test_another_instance_is_notified_of_each_new_version(backend: Backend) -> None:
    writer, watcher_side = await backend.store(), await backend.store()
    seen: list[int] = []

    async def record(version: int) -> None:
        seen.append(version)

    async with watcher_side.subscribe(record):
        await eventually(lambda: seen == [0], what="the current version is delivered first")
        await seed(writer)
        await eventually(lambda: seen[-1:] == [1], what="version 1 announced")
        await writer.set_flags([FlagChange(AGENT, Mode.NEW)], actor="a", reason="r")
        await eventually(lambda: seen[-1:] == [2], what="version 2 announced")

    assert seen == sorted(set(seen))


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("redis", id="redis", marks=pytest.mark.redis),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ],
)
async def test_push_notifications_resume_after_the_listening_connection_is_killed(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    """Polling is switched off (an hour), so only a reconnected listener can deliver."""
    request.param = kind
    async with open_backend(request, tmp_path) as backend:
        writer = await backend.store()
        listener = await backend.store(poll_interval=3600)
        seen: list[int] = []

        async def record(version: int) -> None:
            seen.append(version)

        async with listener.subscribe(record):
            await seed(writer)
            await eventually(lambda: seen[-1:] == [1], what="version 1 pushed")
            killed = await _kill_listening_connections(backend, listener)
            assert killed >= 1
            await writer.set_flags([FlagChange(AGENT, Mode.NEW)], actor="a", reason="after kill")
            await eventually(lambda: seen[-1:] == [2], what="version 2 pushed after reconnect")


async def _kill_listening_connections(backend: Backend, listener: FlagStore) -> int:
    if isinstance(listener, RedisFlagStore):
        import redis.asyncio as aioredis

        admin = aioredis.Redis.from_url(backend.url.split("?", 1)[0])
        try:

            async def subscribed() -> bool:
                return bool(await _redis_subscriber_ids(admin, listener.client_name))

            await eventually(subscribed, what="subscriber listed")
            ids = await _redis_subscriber_ids(admin, listener.client_name)
            for client_id in ids:
                await admin.client_kill_filter(_id=client_id)
            return len(ids)
        finally:
            await admin.aclose()
    import asyncpg

    conn = await asyncpg.connect(backend.url)
    try:
        sql = (
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'strangler-flags-listen'"
        )
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def _redis_subscriber_ids(admin: object, name: str) -> list[str]:
    clients = await admin.client_list(_type="pubsub")  # type: ignore[attr-defined]
    return [client["id"] for client in clients if client.get("name") == name]


# -- availability -----------------------------------------------------------------------------


async def test_closed_store_raises_store_unavailable(store: FlagStore) -> None:
    await store.close()

    with pytest.raises(StoreUnavailable):
        await store.version()
    with pytest.raises(StoreUnavailable):
        await store.set_flags([FlagChange(AGENTS, Mode.NEW)], actor="a", reason="r")


async def test_reopened_store_finds_the_table_it_left(backend: Backend) -> None:
    store = await backend.store()
    table = await seed(store)
    await store.close()

    await store.create()

    assert await store.load() == table


async def test_unreachable_store_raises_store_unavailable_and_recovers(backend: Backend) -> None:
    store = await backend.store(via_relay=True)
    await seed(store)

    async with backend.outage():
        with pytest.raises(StoreUnavailable):
            await store.version()
        with pytest.raises(StoreUnavailable):
            await store.set_flags([FlagChange(AGENTS, Mode.NEW)], actor="a", reason="r")

    assert await store.version() == 1
    table = await store.set_flags([FlagChange(AGENTS, Mode.NEW)], actor="a", reason="after")
    assert table.version == 2


async def test_store_that_could_not_open_opens_on_first_use_once_reachable(
    backend: Backend,
) -> None:
    """The proxy starts even when the store is down (fail-static); the store must catch up."""
    await backend.store()  # the store exists (flags init); this instance cannot reach it
    store = await backend.store(via_relay=True, opened=False)
    async with backend.outage():
        blocker = Path(urlsplit(backend.url).path).parent
        if backend.kind == "sqlite":  # a file where the directory should be: cannot open
            blocker.write_text("not a directory")
        with pytest.raises(StoreUnavailable):
            await store.open()
        with pytest.raises(StoreUnavailable):
            await store.version()
        if backend.kind == "sqlite":
            blocker.unlink()

    assert await store.version() == 0
    assert await store.is_empty()
    assert (await seed(store)).version == 1


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("redis://127.0.0.1:{port}/15", id="redis", marks=pytest.mark.redis),
        pytest.param(
            "postgresql://postgres@127.0.0.1:{port}/test",
            id="postgresql",
            marks=pytest.mark.postgres,
        ),
    ],
)
async def test_opening_a_store_on_a_closed_port_raises_store_unavailable(url: str) -> None:
    store = open_store(url.format(port=free_port()))
    try:
        with pytest.raises(StoreUnavailable):
            await store.open()
    finally:
        await store.close()


async def test_sqlite_store_does_not_recreate_a_vanished_file(tmp_path: Path) -> None:
    store = SQLiteFlagStore(tmp_path / "flags.db")
    await store.create()
    await seed(store)
    (tmp_path / "flags.db").unlink()

    with pytest.raises(StoreUnavailable):
        await store.load()
    assert not (tmp_path / "flags.db").exists()


# -- choosing a store -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind", "detail"),
    [
        pytest.param(
            "sqlite:///var/strangler-flags.db",
            SQLiteFlagStore,
            "var/strangler-flags.db",
            id="sqlite-relative",
        ),
        pytest.param(
            "sqlite:////tmp/x/flags.db", SQLiteFlagStore, "/tmp/x/flags.db", id="sqlite-absolute"
        ),
        pytest.param("redis://127.0.0.1:6379/2", RedisFlagStore, "strangler", id="redis"),
        pytest.param(
            "redis://127.0.0.1:6379/2?prefix=blue", RedisFlagStore, "blue", id="redis-prefix"
        ),
        pytest.param(
            "postgresql://u@db:5432/flags",
            PostgresFlagStore,
            "postgresql://u@db:5432/flags",
            id="postgresql",
        ),
        pytest.param(
            "postgresql+asyncpg://u@db/flags",
            PostgresFlagStore,
            "postgresql://u@db/flags",
            id="postgresql-driver",
        ),
        pytest.param(
            "postgres://u@db/flags", PostgresFlagStore, "postgresql://u@db/flags", id="postgres"
        ),
    ],
)
def test_open_store_picks_the_store_by_url_scheme(
    url: str, kind: type[FlagStore], detail: str
) -> None:
    store = open_store(url, poll_interval=0.5)

    assert isinstance(store, kind)
    assert store.poll_interval == 0.5
    if isinstance(store, SQLiteFlagStore):
        assert store.path == Path(detail)
    elif isinstance(store, RedisFlagStore):
        assert (store.prefix, store.flags_key, store.channel) == (
            detail,
            f"{detail}:flags",
            f"{detail}:flags",
        )
        assert "prefix" not in store.url
    else:
        assert isinstance(store, PostgresFlagStore)
        assert store.url == detail


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("mysql://db/flags", id="unknown-scheme"),
        pytest.param("sqlite://", id="no-path"),
    ],
)
def test_open_store_rejects_urls_it_cannot_serve(url: str) -> None:
    with pytest.raises(ValueError):
        open_store(url)
