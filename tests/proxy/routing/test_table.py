"""The compiled route table: matching, fallbacks, effective flags and precomputed headers."""

from __future__ import annotations

import pytest

from proxy.inventory import merge
from proxy.modes import FlagTable, Mode, RouteFlag
from proxy.routing.decide import Decision
from proxy.routing.table import RouteTable
from tests.proxy.sample_apps import create_legacy_app, create_new_app

from proxy.inventory import inventory_from_fastapi, inventory_from_flask  # isort: skip

INVENTORY = merge(
    inventory_from_flask(create_legacy_app()), inventory_from_fastapi(create_new_app())
)


def _table(*flags: RouteFlag, served_by_headers: bool = True) -> RouteTable:
    return RouteTable(
        INVENTORY, FlagTable.from_flags(7, flags), served_by_headers=served_by_headers
    )


@pytest.mark.parametrize(
    ("method", "path", "key"),
    [
        pytest.param("GET", "/api/items", "GET /api/items", id="static"),
        pytest.param("POST", "/api/items", "POST /api/items", id="static-other-method"),
        pytest.param("GET", "/api/items/42", "GET /api/items/{item_id}", id="parameter"),
        pytest.param(
            "GET",
            "/api/items/42/notes/a/b",
            "GET /api/items/{item_id}/notes/{note}",
            id="path-parameter",
        ),
        pytest.param("HEAD", "/api/items/42", "GET /api/items/{item_id}", id="head-follows-get"),
        pytest.param("GET", "/nowhere", None, id="unknown-path"),
        pytest.param("GET", "/api/items/", None, id="trailing-slash-is-unknown"),
    ],
)
def test_requests_match_their_route_key(method: str, path: str, key: str | None) -> None:
    assert _table().match(method, path).key == key


def test_unknown_paths_go_to_legacy() -> None:
    entry = _table().match("GET", "/nowhere")
    assert entry.decide({"method": "GET", "headers": []}) == Decision("legacy")
    assert entry.label == "unmatched"


@pytest.mark.parametrize(
    ("method", "path", "side"),
    [
        pytest.param("DELETE", "/api/items", "legacy", id="both-sides-path-to-legacy"),
        pytest.param("POST", "/new-only", "new", id="new-only-path-to-new"),
        pytest.param("OPTIONS", "/legacy-only", "legacy", id="options-legacy-path"),
    ],
)
def test_undeclared_methods_go_to_a_side_that_knows_the_path(
    method: str, path: str, side: str
) -> None:
    entry = _table(RouteFlag("GET /api/items", Mode.NEW)).match(method, path)
    assert entry.key is None
    assert entry.decide({"method": method, "headers": []}).primary == side


def test_flags_pick_the_side_and_head_follows_get() -> None:
    table = _table(RouteFlag("GET /api/items/{item_id}", Mode.NEW))
    for method in ("GET", "HEAD"):
        entry = table.match(method, "/api/items/1")
        assert entry.decide({"method": method, "headers": []}) == Decision("new")


def test_routes_without_a_flag_go_to_the_side_that_has_them() -> None:
    table = _table()
    assert table.get("GET /legacy-only").flag.mode is Mode.LEGACY
    assert table.get("GET /new-only").flag.mode is Mode.NEW
    assert table.get("GET /api/items").flag.mode is Mode.LEGACY


def test_a_flag_naming_a_side_that_lacks_the_route_is_not_obeyed() -> None:
    table = _table(RouteFlag("GET /legacy-only", Mode.NEW), RouteFlag("GET /new-only", Mode.CANARY))
    assert table.get("GET /legacy-only").flag.mode is Mode.LEGACY
    assert table.get("GET /new-only").flag.mode is Mode.NEW


def test_websocket_routes_go_to_the_side_that_has_them() -> None:
    table = _table()
    entry = table.match_websocket("/ws/echo")
    assert entry.key == "WS /ws/echo"
    assert entry.decide({"headers": []}).primary == "new"
    assert table.match_websocket("/ws/unknown").key is None


def test_served_by_headers_are_precomputed_per_side() -> None:
    entry = _table().match("GET", "/api/items")
    assert entry.headers["legacy"] == [(b"x-served-by", b"legacy"), (b"x-route", b"GET /api/items")]
    assert entry.headers["new"] == [(b"x-served-by", b"new"), (b"x-route", b"GET /api/items")]
    assert _table().match("GET", "/nowhere").headers["legacy"] == [(b"x-served-by", b"legacy")]


def test_served_by_headers_can_be_turned_off() -> None:
    entry = _table(served_by_headers=False).match("GET", "/api/items")
    assert entry.headers == {"legacy": [], "new": []}


def test_fixed_modes_are_decided_at_compile_time_and_canaries_per_request() -> None:
    table = _table(
        RouteFlag("GET /api/items", Mode.CANARY, percent=50),
        RouteFlag("GET /cookies", Mode.CANARY, percent=100),
        RouteFlag("GET /echo", Mode.SHADOW),
    )
    assert table.get("GET /api/items").fixed is None
    assert table.get("GET /cookies").fixed == Decision("new")
    assert table.get("GET /echo").fixed is None
    assert table.get("GET /stream").fixed == Decision("legacy")
    assert table.version == 7
