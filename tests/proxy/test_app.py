"""The proxy's front: what goes to the admin app, and startup against a store that is down."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from proxy.modes import Mode
from tests.proxy.flag_store_backends import eventually
from tests.proxy.harness import make_proxy, make_settings, serve
from tests.proxy.sample_apps import ADMIN


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    proxy = make_proxy(make_settings(tmp_path_factory.mktemp("front")))
    with serve(proxy) as base_url, httpx.Client(base_url=base_url, timeout=10) as http:
        yield http


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/_stranglerX", id="prefix-lookalike"),
        pytest.param("/_strangler-routes", id="dash-lookalike"),
        pytest.param("/metricsX", id="metrics-lookalike"),
        pytest.param("/metrics/extra", id="under-metrics"),
    ],
)
def test_paths_that_only_look_like_admin_paths_go_to_the_apps(
    client: httpx.Client, path: str
) -> None:
    response = client.get(path, headers=ADMIN)
    assert response.status_code == 404
    assert response.headers["x-served-by"] == "legacy"


@pytest.mark.parametrize(
    "path",
    [pytest.param("/_strangler/health", id="health"), pytest.param("/metrics", id="metrics")],
)
def test_admin_paths_go_to_the_admin_app(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert "x-served-by" not in response.headers


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


@pytest.mark.anyio
async def test_first_start_warns_about_flag_file_routes_the_apps_do_not_serve(
    tmp_path: Path,
) -> None:
    from structlog.testing import capture_logs

    (tmp_path / "flags.toml").write_text(
        '[routes."GET /api/items"]\nmode = "new"\n\n[routes."GET /gone"]\nmode = "new"\n'
    )
    proxy = make_proxy(make_settings(tmp_path))
    with capture_logs() as logs:
        await proxy.startup({})
    try:
        assert proxy.watcher.healthy
        assert list(proxy.flags.flags) == ["GET /api/items"]
        entry = proxy.table.get("GET /api/items")
        assert entry is not None and entry.flag.mode is Mode.NEW
        warnings = [e for e in logs if e["event"] == "flag_file_unknown_route"]
        assert [(e["route"], e["log_level"]) for e in warnings] == [("GET /gone", "warning")]
    finally:
        await proxy.shutdown()
