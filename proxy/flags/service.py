"""Operate the flag table: the one orchestration the admin API and the CLI's local backend share.

Each operation plans its changes against the served table (checked against the route inventory
as ``proxy.flags.changes`` checks them), writes them to the store as one compare-and-set and
answers with the body the admin API sends (the CLI prints the same one)::

    service = FlagService(store, inventory)
    await service.set_route("GET /api/v1/agents", "new", actor="cli:ops", reason="verified")
    await service.set_all("shadow", actor=..., reason=...)
    await service.import_table(changes, actor=..., reason=..., expected_version=7)
    await service.kill_switch(actor=..., reason=...)
    await service.events(limit=50, offset=0, route=None)

Errors are the store's and the planner's: :class:`~proxy.flags.changes.RejectedChange` (one bad
field), :class:`~proxy.flags.changes.RejectedImport` (every refused route of an import),
:class:`~proxy.errors.VersionConflict` (``expected_version`` is not the table's version, also when
nothing would change), :class:`~proxy.errors.StoreError` and its subclasses. Callers turn them into
problem documents or command errors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from proxy.clock import format_utc
from proxy.errors import VersionConflict
from proxy.flags.changes import (
    plan_bulk,
    plan_import,
    plan_kill_switch,
    plan_route,
    route_states,
)
from proxy.flags.stores.base import FlagStore
from proxy.inventory import Inventory
from proxy.modes import FlagChange, FlagEvent, FlagTable, Mode

__all__ = ["FlagService", "event_json"]

#: Called with the table written, the changes, the actor and the reason after each write.
Written = Callable[[FlagTable, Sequence[FlagChange], str, str], object]


def event_json(event: FlagEvent) -> dict[str, Any]:
    """One flag event as the admin API and ``resync-strangler events --json`` show it."""
    return {
        "id": event.id,
        "version": event.version,
        "route": event.route,
        "from": event.from_mode,
        "to": event.to_mode,
        "percent": event.percent,
        "actor": event.actor,
        "reason": event.reason,
        "at": format_utc(event.at),
    }


class FlagService:
    """Flag operations on one store, checked against one route inventory.

    ``served`` returns the table changes are planned against (a proxy worker's table in force);
    without it the store's table is loaded for each operation. ``before_write`` runs just before
    a write that changes something and may raise to refuse it (a worker refusing the store's
    table); ``on_written`` runs after each write (a worker applies the new table at once).
    """

    def __init__(
        self,
        store: FlagStore,
        inventory: Inventory,
        *,
        served: Callable[[], FlagTable] | None = None,
        before_write: Callable[[], None] | None = None,
        on_written: Written | None = None,
    ) -> None:
        self.store = store
        self.inventory = inventory
        self._served = served
        self._before_write = before_write
        self._on_written = on_written

    async def table(self) -> FlagTable:
        """The table operations are planned against."""
        if self._served is not None:
            return self._served()
        return await self.store.load()

    async def routes(self) -> dict[str, Any]:
        """Every route with the sides serving it and its flag, at the table's version."""
        table = await self.table()
        states = route_states(self.inventory, table)
        return {"version": table.version, "routes": [state.as_json() for state in states]}

    async def set_route(
        self,
        route: str,
        mode: Mode | str,
        *,
        percent: int | None = None,
        dry_run: bool | None = None,
        actor: str,
        reason: str,
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        """Set one route's mode; answer its new state and the table's version."""
        base = await self.table()
        change = plan_route(self.inventory, base, route, mode, percent=percent, dry_run=dry_run)
        table = await self._apply(base, [change], actor, reason, expected_version)
        state = next(s for s in route_states(self.inventory, table) if s.route.key == route)
        return {**state.as_json(), "version": table.version}

    async def set_all(
        self,
        mode: Mode | str,
        *,
        percent: int | None = None,
        actor: str,
        reason: str,
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        """Set every route both sides serve; answer the version and how many routes changed."""
        base = await self.table()
        changes = plan_bulk(self.inventory, base, mode, percent=percent)
        table = await self._apply(base, changes, actor, reason, expected_version)
        return {"version": table.version, "changed": len(changes)}

    async def import_table(
        self,
        changes: Sequence[FlagChange],
        *,
        actor: str,
        reason: str,
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        """Apply many routes at once, or none (``RejectedImport`` names every refused one)."""
        base = await self.table()
        planned = plan_import(self.inventory, base, changes)
        table = await self._apply(base, planned, actor, reason, expected_version)
        return {"version": table.version, "routes": len(table)}

    async def kill_switch(self, *, actor: str, reason: str) -> dict[str, Any]:
        """Send every route the legacy side serves back to legacy (never conditional)."""
        base = await self.table()
        changes = plan_kill_switch(self.inventory, base)
        table = await self._apply(base, changes, actor, reason, None)
        return {"version": table.version, "changed": len(changes)}

    async def events(self, *, limit: int, offset: int, route: str | None) -> dict[str, Any]:
        """One page of recorded changes, newest first, and how many there are in all."""
        items = await self.store.events(limit=limit, offset=offset, route=route)
        total = await self.store.count_events(route=route)
        return {
            "items": [event_json(event) for event in items],
            "total": total,
            "limit": limit,
            "offset": offset,
        }

    async def _apply(
        self,
        base: FlagTable,
        changes: Sequence[FlagChange],
        actor: str,
        reason: str,
        expected: int | None,
    ) -> FlagTable:
        """Write ``changes`` as one compare-and-set; return the table the answer describes."""
        if not changes:  # nothing to write, but a stale expected version is still a conflict
            if expected is not None and expected != base.version:
                raise VersionConflict(expected, base.version)
            return base
        if self._before_write is not None:
            self._before_write()
        table = await self.store.set_flags(
            changes, actor=actor, reason=reason, expected_version=expected
        )
        if self._on_written is not None:
            self._on_written(table, changes, actor, reason)
        return table
