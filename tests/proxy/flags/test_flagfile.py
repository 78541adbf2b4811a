"""The TOML flag file: the shipped table, export/import round trips, errors, first-start import."""

from __future__ import annotations

import asyncio
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from proxy.app import build_inventory
from proxy.errors import FlagFileError, VersionConflict
from proxy.flags.flagfile import (
    DEFAULT_FLAG_FILE,
    dump_flag_file,
    ensure_initialised,
    import_flag_file,
    load_flag_file,
)
from proxy.flags.stores import FlagStore, SQLiteFlagStore
from proxy.inventory import Inventory
from proxy.modes import FlagChange, FlagTable, Mode, RouteFlag
from tests.proxy.flag_store_backends import Backend

pytestmark = pytest.mark.anyio

# Every HTTP route of the API contract, path parameters named as the contract names them.
CONTRACT_ROUTES = {
    "POST /api/v1/auth/login",
    "POST /api/v1/auth/refresh",
    "POST /api/v1/auth/logout",
    "GET /api/v1/auth/me",
    "GET /api/v1/users",
    "POST /api/v1/users",
    "GET /api/v1/agents",
    "GET /api/v1/agents/{agent_id}",
    "POST /api/v1/chat",
    "GET /api/v1/chat/history",
    "DELETE /api/v1/chat/history",
    "GET /api/v1/audit/flags",
    "POST /api/v1/audit/review",
    "GET /api/v1/audit/metrics",
    "GET /api/v1/audit/export",
    "POST /api/v1/rag/upload",
    "GET /api/v1/rag/files",
    "GET /api/v1/rag/files/{file_id}",
    "DELETE /api/v1/rag/files/{file_id}",
    "GET /api/v1/rag/search",
    "GET /api/v1/status",
    "GET /api/v1/status/workstations",
    "GET /api/v1/status/jobs",
    "GET /api/v1/status/jobs/{job_id}",
    "GET /api/v1/status/jobs/{job_id}/log",
    "GET /api/v1/status/plan",
    "GET /health/live",
    "GET /health/ready",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flags.toml"
    path.write_text(text, encoding="utf-8")
    return path


# -- the shipped table ------------------------------------------------------------------------


def test_shipped_table_lists_every_contract_route_on_legacy() -> None:
    changes = load_flag_file(DEFAULT_FLAG_FILE)

    assert {change.route for change in changes} == CONTRACT_ROUTES
    assert len(changes) == len(CONTRACT_ROUTES)
    assert {(change.mode, change.percent, change.dry_run) for change in changes} == {
        (Mode.LEGACY, 0, None)
    }


def test_shipped_table_leaves_out_the_websocket_route_only_new_serves() -> None:
    routes = {change.route for change in load_flag_file(DEFAULT_FLAG_FILE)}

    assert not any("/ws/" in route for route in routes)


# -- round trip ---------------------------------------------------------------------------------


def test_exported_table_loads_back_as_the_same_flags(tmp_path: Path) -> None:
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    table = FlagTable.from_flags(
        7,
        [
            RouteFlag("GET /api/v1/status", Mode.NEW, updated_at=at, updated_by="a"),
            RouteFlag("GET /api/v1/agents/{agent_id}", Mode.CANARY, 0),
            RouteFlag("GET /api/v1/agents", Mode.CANARY, 35),
            RouteFlag("POST /api/v1/chat", Mode.SHADOW, dry_run=True),
            RouteFlag("DELETE /api/v1/chat/history", Mode.SHADOW_NEW),
            RouteFlag("GET /api/v1/chat/history", Mode.LEGACY),
        ],
    )
    path = tmp_path / "export" / "flags.toml"

    dump_flag_file(table, path)
    changes = load_flag_file(path)

    assert {change.route: change for change in changes} == {
        flag.route: FlagChange(flag.route, flag.mode, flag.percent, flag.dry_run or None)
        for flag in table
    }
    assert [change.route for change in changes] == [
        "GET /api/v1/agents",
        "GET /api/v1/agents/{agent_id}",
        "POST /api/v1/chat",
        "DELETE /api/v1/chat/history",
        "GET /api/v1/chat/history",
        "GET /api/v1/status",
    ]
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Strangler flag table, exported at version 7.")
    document = tomllib.loads(text)["routes"]
    assert document["GET /api/v1/status"] == {"mode": "new"}
    assert document["GET /api/v1/agents/{agent_id}"] == {"mode": "canary", "percent": 0}
    assert document["POST /api/v1/chat"] == {"mode": "shadow", "dry_run": True}
    assert [entry.name for entry in path.parent.iterdir()] == ["flags.toml"]


def test_shipped_table_survives_import_then_export(tmp_path: Path) -> None:
    changes = load_flag_file(DEFAULT_FLAG_FILE)
    table = FlagTable.from_flags(1, (RouteFlag(c.route, c.mode, c.percent) for c in changes))

    dump_flag_file(table, tmp_path / "again.toml")

    assert sorted(load_flag_file(tmp_path / "again.toml"), key=str) == sorted(changes, key=str)


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "route", "fragment"),
    [
        pytest.param(
            '[routes."GET /a"]\nmode = "blue"\n', "GET /a", "unknown mode 'blue'", id="mode"
        ),
        pytest.param(
            '[routes."GET /a"]\nmode = "canary"\npercent = 101\n',
            "GET /a",
            "percent",
            id="percent-high",
        ),
        pytest.param(
            '[routes."GET /a"]\nmode = "canary"\npercent = -5\n',
            "GET /a",
            "percent",
            id="percent-low",
        ),
        pytest.param(
            '[routes."GET /a"]\nmode = "canary"\npercent = "5"\n',
            "GET /a",
            "percent",
            id="percent-str",
        ),
        pytest.param(
            '[routes."GET /a"]\nmode = "canary"\npercent = 2.5\n',
            "GET /a",
            "percent",
            id="percent-float",
        ),
        pytest.param(
            '[routes."GET /a"]\nmode = "shadow"\ndry_run = "yes"\n',
            "GET /a",
            "dry_run",
            id="dry-run",
        ),
        pytest.param('[routes."GET /a"]\npercent = 5\n', "GET /a", "missing 'mode'", id="no-mode"),
        pytest.param(
            '[routes."GET /a"]\nmode = "new"\nprecent = 5\n',
            "GET /a",
            "unknown keys ['precent']",
            id="typo",
        ),
        pytest.param('[routes."get /a"]\nmode = "new"\n', "get /a", "METHOD /path", id="route-key"),
        pytest.param('[routes]\n"GET /a" = "new"\n', "GET /a", "must be a table", id="not-a-table"),
    ],
)
def test_invalid_entry_names_the_file_and_the_route(
    tmp_path: Path, text: str, route: str, fragment: str
) -> None:
    path = write(tmp_path, '[routes."GET /fine"]\nmode = "legacy"\n\n' + text)

    with pytest.raises(FlagFileError) as caught:
        load_flag_file(path)

    assert caught.value.route == route
    assert str(caught.value).startswith(f"{path}: route {route!r}: ")
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param('[routes."GET /a"\nmode = "new"\n', "not valid TOML", id="syntax"),
        pytest.param(
            'version = 3\n[routes."GET /a"]\nmode = "new"\n',
            "unknown top-level keys ['version']",
            id="top-level",
        ),
        pytest.param('routes = ["GET /a"]\n', "'routes' must be a table", id="routes-not-table"),
    ],
)
def test_malformed_file_names_the_file(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path, text)

    with pytest.raises(FlagFileError, match=r"flags\.toml") as caught:
        load_flag_file(path)

    assert fragment in str(caught.value)
    assert caught.value.route is None


def test_missing_file_is_a_flag_file_error(tmp_path: Path) -> None:
    with pytest.raises(FlagFileError, match="cannot read"):
        load_flag_file(tmp_path / "absent.toml")


def test_empty_file_means_no_routes(tmp_path: Path) -> None:
    assert load_flag_file(write(tmp_path, "# nothing yet\n")) == []


# -- first start ------------------------------------------------------------------------------


async def test_first_start_imports_the_flag_file_once(backend: Backend) -> None:
    store = await backend.store()

    table = await ensure_initialised(store, DEFAULT_FLAG_FILE)
    again = await ensure_initialised(store, DEFAULT_FLAG_FILE)

    assert table is not None and again is None
    assert table.version == 1 and set(table.flags) == CONTRACT_ROUTES
    assert await store.load() == table
    events = await store.events(limit=100)
    assert len(events) == len(CONTRACT_ROUTES)
    assert {(e.actor, e.reason, e.from_mode, e.to_mode) for e in events} == {
        ("bootstrap", "import flags.toml", None, "legacy")
    }


async def test_workers_starting_together_import_exactly_once(backend: Backend) -> None:
    stores = [await backend.store() for _ in range(3)]

    results = await asyncio.gather(*(ensure_initialised(store) for store in stores))

    assert sum(result is not None for result in results) == 1
    assert await stores[0].version() == 1
    assert await stores[0].count_events() == len(CONTRACT_ROUTES)


async def test_populated_store_is_left_alone(tmp_path: Path) -> None:
    store = SQLiteFlagStore(tmp_path / "flags.db")
    await store.create()
    await store.set_flags([FlagChange("GET /api/v1/agents", Mode.NEW)], actor="ops", reason="r")

    assert await ensure_initialised(store, DEFAULT_FLAG_FILE) is None

    table = await store.load()
    assert (table.version, list(table.flags)) == (1, ["GET /api/v1/agents"])


async def test_broken_file_fails_the_start_even_when_the_store_is_populated(tmp_path: Path) -> None:
    store = SQLiteFlagStore(tmp_path / "flags.db")
    await store.create()
    await store.set_flags([FlagChange("GET /a", Mode.NEW)], actor="ops", reason="r")
    broken = write(tmp_path, '[routes."GET /a"]\nmode = "newest"\n')

    with pytest.raises(FlagFileError, match="newest"):
        await ensure_initialised(store, broken)


async def test_import_applies_the_file_over_the_current_table(tmp_path: Path) -> None:
    store: FlagStore = SQLiteFlagStore(tmp_path / "flags.db")
    await store.create()
    await store.set_flags(
        [FlagChange("GET /a", Mode.NEW), FlagChange("GET /b", Mode.NEW)], actor="ops", reason="r"
    )
    path = write(tmp_path, '[routes."GET /a"]\nmode = "canary"\npercent = 20\n')

    table = await import_flag_file(store, path, actor="cli", expected_version=1)

    assert (table.version, table.flags["GET /a"].percent, table.flags["GET /b"].mode) == (
        2,
        20,
        "new",
    )
    assert (await store.events(limit=1))[0].reason == "import flags.toml"
    with pytest.raises(VersionConflict):
        await import_flag_file(store, path, actor="cli", expected_version=1)


def sample_inventory() -> Inventory:
    from tests.proxy.sample_apps import create_legacy_app, create_new_app

    return build_inventory(create_legacy_app(), create_new_app())


REFUSED_FILE = """\
[routes."GET /api/items"]
mode = "new"

[routes."GET /nope"]
mode = "new"

[routes."WS /ws/echo"]
mode = "legacy"

[routes."GET /legacy-only"]
mode = "new"
"""


async def test_import_with_the_inventory_refuses_the_whole_file_naming_each_bad_route(
    tmp_path: Path,
) -> None:
    store = SQLiteFlagStore(tmp_path / "flags.db")
    await store.create()
    path = write(tmp_path, REFUSED_FILE)

    with pytest.raises(FlagFileError) as refused:
        await import_flag_file(store, path, actor="cli", inventory=sample_inventory())

    message = str(refused.value)
    assert "3 route(s) refused, nothing imported" in message
    assert "GET /nope: Unknown route GET /nope." in message
    assert "WS /ws/echo: Mode legacy needs the legacy side" in message
    assert "GET /legacy-only: Mode new needs the new side" in message
    assert "GET /api/items:" not in message
    assert await store.is_empty()


async def test_first_start_leaves_out_and_logs_routes_the_inventory_refuses(
    tmp_path: Path,
) -> None:
    from structlog.testing import capture_logs

    store = SQLiteFlagStore(tmp_path / "flags.db")
    await store.create()
    path = write(tmp_path, REFUSED_FILE)

    with capture_logs() as logs:
        table = await ensure_initialised(store, path, inventory=sample_inventory())

    assert table is not None
    assert list(table.flags) == ["GET /api/items"]
    unknown = [e for e in logs if e["event"] == "flag_file_unknown_route"]
    assert [e["route"] for e in unknown] == ["GET /nope"]
    bad_mode = {e["route"] for e in logs if e["event"] == "flag_file_bad_mode"}
    assert bad_mode == {"WS /ws/echo", "GET /legacy-only"}
