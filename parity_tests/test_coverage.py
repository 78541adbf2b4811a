"""The coverage gate: every route either app serves has a parity scenario, or a waiver saying why.

Route keys come from the proxy's own inventory (``proxy.inventory``), the same keys the flag
table uses, so a route cannot be flipped to the new side without the suite having compared it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from parity_tests.conftest import legacy_app, new_app
from proxy.inventory import Inventory, inventory_from_fastapi, inventory_from_flask, merge
from resync_scenarios import ROLES, SCENARIOS, WAIVERS
from tests.services import TwsSim

UNROUTED = "(unknown)"


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inventory]:
    """Both apps' routes (the apps are built, not started: no database is touched)."""
    path: Path = tmp_path_factory.mktemp("inventory") / "unused.db"
    sim = TwsSim(base_url="http://127.0.0.1:9")
    legacy: Any = legacy_app(f"sqlite:///{path}", sim)
    new: Any = new_app(f"sqlite:///{path}", sim)
    try:
        yield merge(inventory_from_flask(legacy), inventory_from_fastapi(new))
    finally:
        from legacy_flask.app_state import EXTENSION_KEY

        legacy.extensions[EXTENSION_KEY].close()


def test_every_route_has_a_scenario_or_a_waiver(inventory: Inventory) -> None:
    covered = {s.route for s in SCENARIOS}
    missing = sorted(key for key in inventory if key not in covered and key not in WAIVERS)
    assert not missing, f"routes without a parity scenario or a waiver: {missing}"


def test_every_route_both_sides_serve_is_compared_with_a_token_and_without(
    inventory: Inventory,
) -> None:
    shared = [route.key for route in inventory.routes() if len(route.sides) == 2]
    thin = [
        key
        for key in shared
        if not {s.auth for s in SCENARIOS if s.route == key} >= {None, *ROLES}
        and key not in ("POST /api/v1/auth/login", "POST /api/v1/auth/refresh")
    ]
    assert not thin, f"routes not tried without a token and with each role: {thin}"


def test_only_waived_routes_are_served_by_one_side(inventory: Inventory) -> None:
    one_sided = sorted(
        f"{route.key} (only {next(iter(route.sides))})"
        for route in inventory.routes()
        if len(route.sides) == 1 and route.key not in WAIVERS
    )
    assert not one_sided, f"routes served by one side only, so never comparable: {one_sided}"


def test_scenarios_name_real_routes(inventory: Inventory) -> None:
    unknown = sorted({s.route for s in SCENARIOS} - set(inventory) - {UNROUTED})
    assert not unknown, f"scenarios for routes neither app serves: {unknown}"


def test_waivers_name_routes_and_give_reasons(inventory: Inventory) -> None:
    websocket = [route.key for route in inventory.routes() if route.websocket]
    assert websocket, "the new app's WebSocket route is expected in the inventory"
    assert set(websocket) <= set(WAIVERS)
    assert all(len(reason) > 20 for reason in WAIVERS.values())
    stale = sorted(set(WAIVERS) - set(inventory))
    assert not stale, f"waivers for routes no app serves any more: {stale}"
    covered_and_waived = sorted({s.route for s in SCENARIOS} & set(WAIVERS))
    assert not covered_and_waived, f"waived routes that have scenarios: {covered_and_waived}"


def test_scenario_ids_are_unique() -> None:
    ids = [s.id for s in SCENARIOS]
    assert len(ids) == len(set(ids))
