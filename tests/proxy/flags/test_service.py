"""FlagService: the flag operations the admin API and the local CLI share (a real SQLite store)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from proxy.errors import RejectedChange, RejectedImport, VersionConflict
from proxy.flags.service import FlagService, event_json
from proxy.flags.stores import open_store
from proxy.flags.stores.base import FlagStore
from proxy.inventory import LEGACY, NEW, Inventory, Route
from proxy.modes import FlagChange, FlagTable, Mode

pytestmark = pytest.mark.anyio

BOTH = "GET /api/items"
LEGACY_ONLY = "GET /old"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _route(key: str, *sides: str) -> Route:
    method, path = key.split(" ", 1)
    return Route(key=key, method=method, path_template=path, sides=frozenset(sides))


INVENTORY = Inventory([_route(BOTH, LEGACY, NEW), _route(LEGACY_ONLY, LEGACY)])


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[FlagStore]:
    flag_store = open_store(f"sqlite:///{tmp_path / 'flags.db'}")
    await flag_store.create()
    await flag_store.open()
    try:
        yield flag_store
    finally:
        await flag_store.close()


async def test_set_route_writes_one_change_and_answers_the_route_state(store: FlagStore) -> None:
    service = FlagService(store, INVENTORY)
    answer = await service.set_route(BOTH, "canary", percent=10, actor="ops", reason="10 %")
    assert answer["route"] == BOTH and answer["mode"] == "canary" and answer["percent"] == 10
    assert answer["version"] == 1 == (await store.load()).version
    page = await service.events(limit=10, offset=0, route=None)
    assert page["total"] == 1 and page["limit"] == 10 and page["offset"] == 0
    item = page["items"][0]
    assert item == event_json((await store.events(limit=1))[0])
    assert {k: item[k] for k in ("version", "route", "from", "to", "percent", "actor")} == {
        "version": 1,
        "route": BOTH,
        "from": None,
        "to": "canary",
        "percent": 10,
        "actor": "ops",
    }
    assert item["reason"] == "10 %" and item["at"].endswith("Z")


async def test_a_change_to_nothing_keeps_the_version_but_a_stale_expectation_conflicts(
    store: FlagStore,
) -> None:
    service = FlagService(store, INVENTORY)
    same = await service.set_all("legacy", actor="ops", reason="r", expected_version=0)
    assert same == {"version": 0, "changed": 0} and await store.events() == []
    with pytest.raises(VersionConflict):  # nothing to write, yet not at the expected version
        await service.set_all("legacy", actor="ops", reason="r", expected_version=3)
    with pytest.raises(VersionConflict):
        await service.set_route(BOTH, "new", actor="ops", reason="r", expected_version=3)
    assert (await store.load()).version == 0


async def test_refused_changes_write_nothing(store: FlagStore) -> None:
    service = FlagService(store, INVENTORY)
    with pytest.raises(RejectedChange) as refused:
        await service.set_route(LEGACY_ONLY, "new", actor="ops", reason="r")
    assert refused.value.field == "mode"
    changes = [FlagChange(BOTH, Mode.NEW), FlagChange("GET /nowhere", Mode.NEW)]
    with pytest.raises(RejectedImport) as rejected:
        await service.import_table(changes, actor="ops", reason="file")
    assert [index for index, _ in rejected.value.rejections] == [1]
    assert (await store.load()).version == 0


async def test_bulk_import_and_kill_switch_count_what_they_change(store: FlagStore) -> None:
    service = FlagService(store, INVENTORY)
    assert await service.set_all("shadow", actor="ops", reason="r") == {"version": 1, "changed": 1}
    imported = await service.import_table(
        [FlagChange(BOTH, Mode.NEW), FlagChange(LEGACY_ONLY, Mode.LEGACY)],
        actor="ops",
        reason="file",
        expected_version=1,
    )
    assert imported["version"] == 2
    assert await service.kill_switch(actor="ops", reason="r") == {"version": 3, "changed": 1}
    assert await service.kill_switch(actor="ops", reason="r") == {"version": 3, "changed": 0}


async def test_a_worker_plans_on_its_served_table_may_refuse_and_applies_what_it_wrote(
    store: FlagStore,
) -> None:
    served = FlagTable(version=0)
    written: list[int] = []
    refusing = True

    def before_write() -> None:
        if refusing:
            raise RuntimeError("refusing the store's table")

    service = FlagService(
        store,
        INVENTORY,
        served=lambda: served,
        before_write=before_write,
        on_written=lambda table, changes, actor, reason: written.append(table.version),
    )
    with pytest.raises(RuntimeError):
        await service.set_route(BOTH, "new", actor="ops", reason="r")
    assert (await store.load()).version == 0 and written == []
    # Nothing to change is answered from the served table, refusing or not.
    assert await service.set_all("legacy", actor="ops", reason="r") == {"version": 0, "changed": 0}
    refusing = False
    assert (await service.set_route(BOTH, "new", actor="ops", reason="r"))["version"] == 1
    assert written == [1]
