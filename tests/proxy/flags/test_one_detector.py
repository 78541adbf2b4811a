"""Issue 16, fault 4: a worker runs ONE change detector, the store's subscription.

The watcher used to run a timer of its own (its health check) beside the store's version poll,
so a worker read the store twice per period. Now the subscription's check is the only periodic
read: it finds new versions (with the push of Redis and PostgreSQL beside it) and it is the
health check, reporting every failure and the recovery to the watcher. Checked on a real SQLite
file, a real Redis and a real PostgreSQL (in CI=true the last two must run), by counting the
reads the store instance really serves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import pytest
from structlog.testing import capture_logs

from proxy.flags.stores import FlagStore
from proxy.flags.watcher import FlagWatcher
from proxy.modes import FlagChange, FlagTable, Mode
from tests.proxy.flag_store_backends import (
    Backend,
    eventually,
)

pytestmark = pytest.mark.anyio

AGENT = "GET /api/v1/agents/{agent_id}"
# The store's own poll period and the watcher's check period are the same, so two detectors
# would read twice as often as one.
INTERVAL, MAX_BACKOFF = 0.1, 0.4
QUIET_SECONDS = 1.5


class Reads:
    """Count the reads a real store instance serves (and how many of them failed)."""

    METHODS = ("identity", "version", "load")

    def __init__(self, store: FlagStore) -> None:
        self.calls = dict.fromkeys(self.METHODS, 0)
        self.failed = 0
        for name in self.METHODS:
            setattr(store, name, self._counted(name, getattr(store, name)))

    def _counted(self, name: str, read: Callable[[], Awaitable[Any]]) -> Callable[[], Any]:
        async def counted() -> Any:
            self.calls[name] += 1
            try:
                return await read()
            except Exception:
                self.failed += 1
                raise

        return counted

    def reset(self) -> None:
        self.calls = dict.fromkeys(self.METHODS, 0)
        self.failed = 0

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def events_named(logs: Sequence[Mapping[str, Any]], name: str) -> list[Mapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


async def test_a_watching_worker_reads_the_store_from_one_detector_only(backend: Backend) -> None:
    store = await backend.store(via_relay=True, poll_interval=INTERVAL)
    writer = await backend.store()
    table = await writer.set_flags([FlagChange(AGENT, Mode.LEGACY)], actor="a", reason="seed")
    tables: list[FlagTable] = []
    health: list[bool] = []
    reads = Reads(store)
    before = {task.get_name() for task in asyncio.all_tasks()}
    watcher = FlagWatcher(
        store,
        tables.append,
        on_health=health.append,
        check_interval=INTERVAL,
        max_backoff=MAX_BACKOFF,
    )

    with capture_logs() as logs:
        async with watcher:

            def started() -> set[str]:
                names = {task.get_name() for task in asyncio.all_tasks()} - before
                return {name for name in names if name.startswith("flag-")}

            await eventually(lambda: "flag-store-poll" in started(), what="the check's task")
            # The watcher's task only holds the subscription open; the store's check and (for
            # the stores that push) its listener are the only other tasks.
            pushes = {"flag-store-listen"} if backend.kind != "sqlite" else set()
            assert started() == {"flag-watcher", "flag-store-poll"} | pushes
            assert tables == [table]

            # Quiet store: one read per period, from the subscription's check.
            reads.reset()
            await asyncio.sleep(QUIET_SECONDS)
            quiet = dict(reads.calls)
            periods = QUIET_SECONDS / INTERVAL
            assert quiet["version"] == 0 and quiet["load"] == 0, quiet
            # Two detectors would make ~2 x periods reads; the lower bound only shows the check
            # runs at all (a loaded 2-core machine stretches sleeps).
            assert periods / 3 <= quiet["identity"] <= periods + 2, quiet

            # Outage: every failed read is one the watcher was told of, through the same path.
            reads.reset()
            async with backend.outage():
                await eventually(
                    lambda: watcher.consecutive_failures >= 3, what="several failed checks"
                )
                await eventually(
                    lambda: reads.failed == watcher.consecutive_failures,
                    what="the check in flight reported",
                )
                # Only the check read meanwhile (a read in flight when the outage began may have
                # been counted before the reset, and failed after it).
                assert reads.calls["version"] == reads.calls["load"] == 0, reads.calls
                assert reads.calls["identity"] <= reads.failed <= reads.calls["identity"] + 1
                assert not watcher.healthy and watcher.table == table
                if backend.kind != "sqlite":  # the store is up; only this worker is cut off
                    await writer.set_flags([FlagChange(AGENT, Mode.NEW)], actor="a", reason="r")
            await eventually(lambda: watcher.healthy, what="the next check recovers")
            if backend.kind == "sqlite":
                await writer.set_flags([FlagChange(AGENT, Mode.NEW)], actor="a", reason="r")
            await eventually(lambda: watcher.version == 2, what="the change is reloaded")

    assert watcher.table is not None and watcher.table.flags[AGENT].mode == Mode.NEW
    assert health == [True, False, True]
    assert len(events_named(logs, "flag_store_unreachable")) == 1
    assert len(events_named(logs, "flag_store_recovered")) == 1
    assert [t.version for t in tables] == [1, 2]
