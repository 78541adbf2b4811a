"""The proxy's front: startup against a store that is down."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.modes import Mode
from tests.proxy.flag_store_backends import eventually
from tests.proxy.harness import make_proxy, make_settings


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_a_store_down_at_start_gets_the_flag_file_once_it_is_back(tmp_path: Path) -> None:
    (tmp_path / "flags.toml").write_text('[routes."GET /api/items"]\nmode = "new"\n')
    blocker = tmp_path / "store"  # a file where the store's directory should be
    blocker.write_text("not a directory")
    proxy = make_proxy(make_settings(tmp_path, flag_store_url=f"sqlite:///{blocker / 'flags.db'}"))
    await proxy.startup({})
    try:
        items = proxy.table.get("GET /api/items")
        assert items is not None and items.flag.mode is Mode.LEGACY  # fail static
        assert not proxy.watcher.healthy

        blocker.unlink()

        def imported() -> bool:
            entry = proxy.table.get("GET /api/items")
            return entry is not None and entry.flag.mode is Mode.NEW

        await eventually(imported, within=20, what="the flag file imported after the outage")
        events = await proxy.store.events()
        assert [(event.route, event.to_mode, event.actor) for event in events] == [
            ("GET /api/items", "new", "proxy")
        ]
    finally:
        await proxy.shutdown()
