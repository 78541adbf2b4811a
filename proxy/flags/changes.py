"""Turn an operator's request (set one route, set all, kill switch) into flag changes.

The admin API and the CLI both go through these functions, so a route is validated the same way
wherever it is flipped: it must be in the inventory, and the mode must only name sides that serve
it (``new`` for a legacy-only route is refused; canary and the shadow modes need both sides).
They compute changes against the flags the proxy obeys and leave routes that would not change out,
so ``changed`` counts real changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from proxy.clock import format_utc
from proxy.errors import RejectedChange, RejectedImport
from proxy.inventory import LEGACY, NEW, SIDES, Inventory, Route
from proxy.modes import FlagChange, FlagTable, Mode, RouteFlag, effective_flag, mode_allowed

__all__ = [
    "RejectedChange",
    "RejectedImport",
    "RouteState",
    "plan_bulk",
    "plan_import",
    "plan_kill_switch",
    "plan_route",
    "route_states",
]


@dataclass(frozen=True, slots=True)
class RouteState:
    """A route of the inventory and the flag the proxy obeys for it."""

    route: Route
    flag: RouteFlag

    def as_json(self) -> dict[str, object]:
        """Return the admin API's route object."""
        flag = self.flag
        return {
            "route": self.route.key,
            "method": self.route.method,
            "path": self.route.path_template,
            "sides": [side for side in SIDES if side in self.route.sides],
            "websocket": self.route.websocket,
            "mode": flag.mode.value,
            "percent": flag.percent,
            "dry_run": flag.dry_run,
            "updated_at": format_utc(flag.updated_at) if flag.updated_at else None,
            "updated_by": flag.updated_by,
        }


def route_states(inventory: Inventory, table: FlagTable) -> list[RouteState]:
    """Return every inventory route with its effective flag, sorted by path then method."""
    return [
        RouteState(route, effective_flag(route, table.get(route.key)))
        for route in inventory.values()
    ]


def _sides_needed(mode: Mode) -> str:
    if mode is Mode.LEGACY:
        return "the legacy side"
    if mode is Mode.NEW:
        return "the new side"
    return "both sides"


def _differs(flag: RouteFlag, mode: Mode, percent: int, dry_run: bool | None) -> bool:
    return (
        flag.mode is not mode
        or flag.percent != percent
        or (dry_run is not None and flag.dry_run != dry_run)
    )


def plan_route(
    inventory: Inventory,
    table: FlagTable,
    route: str,
    mode: Mode | str,
    *,
    percent: int | None = None,
    dry_run: bool | None = None,
) -> FlagChange:
    """Return the change that sets one route, or raise :class:`RejectedChange`."""
    known = inventory.get(route)
    if known is None:
        raise RejectedChange(f"Unknown route {route}.", field="route", code="invalid_choice")
    try:
        mode = Mode(mode)
    except ValueError:
        choices = ", ".join(m.value for m in Mode)
        raise RejectedChange(
            f"Must be one of: {choices}.", field="mode", code="invalid_choice", route=route
        ) from None
    if not mode_allowed(mode, known.sides):
        served = " and ".join(side for side in SIDES if side in known.sides)
        raise RejectedChange(
            f"Mode {mode.value} needs {_sides_needed(mode)}; {route} is served by {served} only.",
            field="mode",
            code="invalid_choice",
            route=route,
        )
    if percent is not None and not 0 <= percent <= 100:
        raise RejectedChange(
            "Must be between 0 and 100.", field="percent", code="out_of_range", route=route
        )
    return FlagChange(
        route=route,
        mode=mode,
        percent=(percent or 0) if mode is Mode.CANARY else 0,
        dry_run=dry_run,
    )


def _changed(
    inventory: Inventory, table: FlagTable, changes: Iterable[FlagChange]
) -> list[FlagChange]:
    """Keep the changes that alter what the proxy does for their route."""
    return [
        change
        for change in changes
        if _differs(
            effective_flag(inventory[change.route], table.get(change.route)),
            change.mode,
            change.percent,
            change.dry_run,
        )
    ]


def plan_bulk(
    inventory: Inventory, table: FlagTable, mode: Mode | str, *, percent: int | None = None
) -> list[FlagChange]:
    """Return the changes that set every route both sides serve to ``mode``."""
    changes = [
        plan_route(inventory, table, route.key, mode, percent=percent)
        for route in inventory.values()
        if {LEGACY, NEW} <= route.sides
    ]
    return _changed(inventory, table, changes)


def plan_import(
    inventory: Inventory, table: FlagTable, changes: Iterable[FlagChange]
) -> list[FlagChange]:
    """Return a flag file's changes checked as :func:`plan_route` checks one, all or nothing.

    Every change is checked before any is returned, so :class:`RejectedImport` names each route
    the inventory refuses (unknown, or a mode naming a side that does not serve it) at once.
    """
    planned: list[FlagChange] = []
    rejections: list[tuple[int, RejectedChange]] = []
    for index, change in enumerate(changes):
        try:
            planned.append(
                plan_route(
                    inventory,
                    table,
                    change.route,
                    change.mode,
                    percent=change.percent,
                    dry_run=change.dry_run,
                )
            )
        except RejectedChange as exc:
            exc.route = change.route
            rejections.append((index, exc))
    if rejections:
        raise RejectedImport(rejections)
    return planned


def plan_kill_switch(inventory: Inventory, table: FlagTable) -> list[FlagChange]:
    """Return the changes that send every route the legacy side serves back to legacy."""
    changes = [
        FlagChange(route=route.key, mode=Mode.LEGACY)
        for route in inventory.values()
        if LEGACY in route.sides
    ]
    return _changed(inventory, table, changes)
