"""FlagWatcher keeps a worker's table current and keeps serving the last one through outages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from proxy.flags.flagfile import DEFAULT_FLAG_FILE, ensure_initialised, load_flag_file
from proxy.flags.stores import FlagStore, RedisFlagStore, SQLiteFlagStore
from proxy.flags.watcher import FlagWatcher
from proxy.modes import FlagChange, FlagTable, Mode
from tests.proxy.flag_store_backends import (
    Backend,
    eventually,
    open_backend,
)

pytestmark = pytest.mark.anyio

AGENTS = "GET /api/v1/agents"
AGENT = "GET /api/v1/agents/{agent_id}"

# Short intervals keep the tests quick; the watcher's behaviour does not depend on them.
CHECK_INTERVAL, MAX_BACKOFF = 0.05, 0.2


class Recorder:
    """What the proxy would do with the watcher's callbacks, kept for assertions."""

    def __init__(self) -> None:
        self.tables: list[FlagTable] = []
        self.health: list[bool] = []
        self.versions: list[int] = []

    def table(self, table: FlagTable) -> None:
        self.tables.append(table)

    def watcher(self, store: FlagStore) -> FlagWatcher:
        return FlagWatcher(
            store,
            self.table,
            on_health=self.health.append,
            on_version=self.versions.append,
            check_interval=CHECK_INTERVAL,
            max_backoff=MAX_BACKOFF,
        )


async def seed(store: FlagStore) -> FlagTable:
    return await store.set_flags(
        [FlagChange(AGENTS, Mode.LEGACY), FlagChange(AGENT, Mode.LEGACY)],
        actor="bootstrap",
        reason="seed",
    )


def events_named(logs: Sequence[Mapping[str, Any]], name: str) -> list[Mapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


async def test_watcher_loads_the_table_at_start_and_hands_it_over(backend: Backend) -> None:
    store = await backend.store()
    table = await seed(store)
    recorder = Recorder()

    async with recorder.watcher(store) as watcher:
        assert recorder.tables == [table]
        assert (watcher.healthy, watcher.version, watcher.table) == (True, 1, table)
        assert (recorder.health, recorder.versions) == ([True], [1])


async def test_watcher_applies_a_change_made_through_another_instance(backend: Backend) -> None:
    store, writer = await backend.store(), await backend.store()
    await seed(writer)
    recorder = Recorder()

    async with recorder.watcher(store) as watcher:
        changed = await writer.set_flags(
            [FlagChange(AGENT, Mode.CANARY, percent=5)], actor="a", reason="r"
        )
        await eventually(lambda: watcher.version == 2, what="watcher reloads version 2")

    assert recorder.tables[-1] == changed
    assert [table.version for table in recorder.tables] == [1, 2]


async def test_watcher_keeps_the_last_table_through_an_outage_and_recovers(
    backend: Backend,
) -> None:
    store = await backend.store(via_relay=True)
    writer = await backend.store()
    table = await seed(store)
    recorder = Recorder()

    with capture_logs() as logs:
        async with recorder.watcher(store) as watcher:
            async with backend.outage():
                await eventually(
                    lambda: watcher.consecutive_failures >= 3, what="several failed checks"
                )
                assert not watcher.healthy
                assert watcher.table == table
                assert recorder.tables == [table]
                if backend.kind != "sqlite":  # the store itself is up; only this worker is cut off
                    await writer.set_flags(
                        [FlagChange(AGENT, Mode.NEW)], actor="a", reason="during"
                    )
            await eventually(lambda: watcher.healthy, what="watcher recovers")
            if backend.kind == "sqlite":
                await writer.set_flags([FlagChange(AGENT, Mode.NEW)], actor="a", reason="after")
            await eventually(lambda: watcher.version == 2, what="the change is picked up")

    assert watcher.table is not None and watcher.table.flags[AGENT].mode == Mode.NEW
    assert recorder.health == [True, False, True]
    unreachable = events_named(logs, "flag_store_unreachable")
    assert len(unreachable) == 1
    assert unreachable[0]["log_level"] == "warning" and unreachable[0]["version"] == 1
    assert len(events_named(logs, "flag_store_recovered")) == 1
    assert watcher.consecutive_failures == 0 and watcher.last_error is None


async def test_watcher_started_while_the_store_is_down_loads_once_it_is_back(
    backend: Backend,
) -> None:
    store = await backend.store(via_relay=True)
    table = await seed(store)
    recorder = Recorder()

    with capture_logs() as logs:
        async with backend.outage():
            watcher = recorder.watcher(store)
            await watcher.start()  # must not raise: the worker starts and serves its defaults
            try:
                assert (watcher.healthy, watcher.table, watcher.version) == (False, None, None)
                assert watcher.last_error
                await eventually(lambda: watcher.consecutive_failures >= 2, what="retries")
            except BaseException:
                await watcher.stop()
                raise
        try:
            await eventually(lambda: watcher.table == table, what="table loaded after recovery")
        finally:
            await watcher.stop()

    assert recorder.health == [False, True]
    assert len(events_named(logs, "flag_store_unreachable")) == 1
    assert len(events_named(logs, "flag_store_recovered")) == 1


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("redis", id="redis", marks=pytest.mark.redis),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ],
)
async def test_watcher_carries_on_after_its_server_connections_are_killed(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    """CLIENT KILL / pg_terminate_backend on every connection: the watcher still sees changes."""
    request.param = kind
    async with open_backend(request, tmp_path) as backend:
        store, writer = await backend.store(), await backend.store()
        await seed(writer)
        recorder = Recorder()
        async with recorder.watcher(store) as watcher:
            assert await _kill_store_connections(backend, store) >= 1
            await writer.set_flags([FlagChange(AGENT, Mode.NEW)], actor="a", reason="after kill")
            await eventually(lambda: watcher.version == 2, what="change seen after the kill")
            await eventually(lambda: watcher.healthy, what="healthy after the kill")

        assert watcher.table is not None and watcher.table.flags[AGENT].mode == Mode.NEW


async def _kill_store_connections(backend: Backend, store: FlagStore) -> int:
    if isinstance(store, RedisFlagStore):
        import redis.asyncio as aioredis

        admin = aioredis.Redis.from_url(backend.url.split("?", 1)[0])
        try:
            clients = await admin.client_list()
            ids = [client["id"] for client in clients if client.get("name") == store.client_name]
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
            " WHERE datname = current_database() AND application_name LIKE 'strangler-flags%'"
        )
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def test_a_failing_on_table_callback_does_not_stop_the_watcher(tmp_path: Path) -> None:
    store = SQLiteFlagStore(tmp_path / "flags.db")
    await store.create()
    await seed(store)
    accepted: list[int] = []

    def on_table(table: FlagTable) -> None:
        if table.version == 2:
            raise RuntimeError("compile failed")
        accepted.append(table.version)

    with capture_logs() as logs:
        async with FlagWatcher(
            store, on_table, check_interval=CHECK_INTERVAL, max_backoff=MAX_BACKOFF
        ) as watcher:
            await store.set_flags([FlagChange(AGENT, Mode.NEW)], actor="a", reason="bad")
            await eventually(lambda: watcher.version == 2, what="version 2 offered")
            await store.set_flags([FlagChange(AGENT, Mode.LEGACY)], actor="a", reason="good")
            await eventually(lambda: accepted == [1, 3], what="version 3 accepted")
            assert watcher.healthy

    assert [entry["version"] for entry in events_named(logs, "flag_table_rejected")] == [2]


async def test_offer_applies_a_newer_table_at_once_and_ignores_older_ones(tmp_path: Path) -> None:
    store = SQLiteFlagStore(tmp_path / "flags.db", poll_interval=3600)
    await store.create()
    first = await seed(store)
    recorder = Recorder()
    watcher = FlagWatcher(store, recorder.table, check_interval=3600)
    await watcher.refresh()

    newer = await store.set_flags([FlagChange(AGENT, Mode.NEW)], actor="admin", reason="r")

    assert watcher.offer(newer) is True
    assert watcher.table == newer
    assert watcher.offer(first) is False
    assert watcher.offer(newer) is False
    assert recorder.tables == [first, newer]


async def test_stop_keeps_the_last_table_and_start_is_idempotent(tmp_path: Path) -> None:
    store = SQLiteFlagStore(tmp_path / "flags.db")
    await store.create()
    table = await seed(store)
    recorder = Recorder()
    watcher = recorder.watcher(store)

    await watcher.start()
    await watcher.start()
    await watcher.stop()
    await watcher.stop()

    assert watcher.table == table
    assert recorder.tables == [table]


def test_module_logger_is_structlog() -> None:
    """The outage logs go through structlog, so the proxy's JSON configuration applies."""
    from proxy.flags import watcher

    assert isinstance(
        watcher.log, structlog.types.BindableLogger | structlog._config.BoundLoggerLazyProxy
    )


async def test_bootstrap_imports_the_flag_file_once_the_store_is_back(backend: Backend) -> None:
    store = await backend.store(via_relay=True)
    recorder = Recorder()
    watcher = FlagWatcher(
        store,
        recorder.table,
        check_interval=CHECK_INTERVAL,
        max_backoff=MAX_BACKOFF,
        bootstrap=lambda store: ensure_initialised(store, DEFAULT_FLAG_FILE),
    )

    async with backend.outage():
        await watcher.start()
    try:
        assert watcher.table is None
        await eventually(lambda: watcher.version == 1, what="flag file imported after recovery")
    finally:
        await watcher.stop()

    assert watcher.table is not None and len(watcher.table) == len(
        load_flag_file(DEFAULT_FLAG_FILE)
    )
    assert await store.count_events() == len(watcher.table)


async def test_broken_flag_file_in_bootstrap_is_logged_and_the_watcher_goes_on(
    tmp_path: Path,
) -> None:
    store = SQLiteFlagStore(tmp_path / "flags.db")
    await store.create()
    await seed(store)
    broken = tmp_path / "broken.toml"
    broken.write_text('[routes."GET /a"]\nmode = "sideways"\n', encoding="utf-8")
    recorder = Recorder()

    with capture_logs() as logs:
        watcher = FlagWatcher(
            store, recorder.table, bootstrap=lambda store: ensure_initialised(store, broken)
        )
        await watcher.refresh()
        await watcher.refresh()

    assert watcher.healthy and watcher.version == 1
    assert len(events_named(logs, "flag_bootstrap_failed")) == 1
