"""Read and write the flag table as TOML, so the table can live in version control too.

The file is the table's starting point: :func:`ensure_initialised` imports it into a store that
has never been written, and :func:`dump_flag_file` exports a live table back to the same
format::

    [routes."GET /api/v1/agents/{agent_id}"]
    mode = "canary"     # legacy | new | canary | shadow | shadow-new
    percent = 10        # optional, 0..100, for canary
    dry_run = false     # optional, shadow unsafe methods in a rolled-back transaction

A mistake in the file (unknown mode, bad percent, unknown key, malformed route) fails loudly with
the file and the route named, before anything is written to the store. Given the route
inventory, an import is also checked as ``set`` checks one route (the route exists, the mode
names only sides that serve it) and refused whole if any route fails; the first-start import
leaves such routes out with a warning instead, so a stale file never stops the proxy.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import structlog
import tomli_w

from proxy.errors import FlagFileError, InvalidFlag, RejectedImport, VersionConflict
from proxy.flags.changes import plan_import
from proxy.flags.stores.base import FlagStore
from proxy.inventory import Inventory
from proxy.modes import FlagChange, FlagTable, parse_mode, parse_percent, split_route
from proxy.settings import DEFAULT_FLAG_FILE

__all__ = [
    "DEFAULT_FLAG_FILE",
    "check_flag_file",
    "dump_flag_file",
    "ensure_initialised",
    "import_flag_file",
    "load_flag_file",
    "read_flag_document",
]


_ROUTE_KEYS = {"mode", "percent", "dry_run"}

log = structlog.get_logger("proxy.flags.flagfile")


def read_flag_document(path: Path) -> dict[str, Any]:
    """Read a flag file's TOML document; raise :class:`FlagFileError` if unreadable or not TOML.

    Shared by the ``[routes]`` reader here and the ``[plans]`` reader of the rollout.
    """
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FlagFileError(path, f"cannot read the file ({exc.strerror or exc})") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FlagFileError(path, f"not valid TOML: {exc}") from exc


def load_flag_file(path: str | Path) -> list[FlagChange]:
    """Parse a flag file into changes, in file order; raise :class:`FlagFileError` if invalid."""
    path = Path(path)
    document = read_flag_document(path)
    unknown = set(document) - {"routes", "plans"}  # [plans]: proxy.rollout.flagfile
    if unknown:
        raise FlagFileError(
            path, f"unknown top-level keys {sorted(unknown)} (only [routes] and [plans])"
        )
    routes = document.get("routes", {})
    if not isinstance(routes, dict):
        raise FlagFileError(path, "'routes' must be a table of route tables")
    return [_change(path, route, entry) for route, entry in routes.items()]


def _change(path: Path, route: str, entry: object) -> FlagChange:
    if not isinstance(entry, dict):
        raise FlagFileError(path, "must be a table with at least 'mode'", route=route)
    unknown = set(entry) - _ROUTE_KEYS
    if unknown:
        allowed = ", ".join(sorted(_ROUTE_KEYS))
        raise FlagFileError(
            path, f"unknown keys {sorted(unknown)} (allowed: {allowed})", route=route
        )
    if "mode" not in entry:
        raise FlagFileError(path, "missing 'mode'", route=route)
    try:
        split_route(route)
        mode = parse_mode(entry["mode"])
        percent = parse_percent(entry.get("percent", 0))
        dry_run = entry.get("dry_run")
        if dry_run is not None and not isinstance(dry_run, bool):
            raise InvalidFlag(f"dry_run must be true or false, not {dry_run!r}")
        return FlagChange(route, mode, percent, dry_run)
    except InvalidFlag as exc:
        raise FlagFileError(path, exc.reason, route=route) from exc


def dump_flag_file(table: FlagTable, path: str | Path) -> None:
    """Write ``table`` as a flag file (sorted by path, then method), replacing it atomically."""
    path = Path(path)
    routes: dict[str, dict[str, object]] = {}
    for flag in sorted(table, key=lambda flag: (flag.path, flag.method)):
        entry: dict[str, object] = {"mode": flag.mode.value}
        if flag.percent or flag.mode == "canary":
            entry["percent"] = flag.percent
        if flag.dry_run:
            entry["dry_run"] = True
        routes[flag.route] = entry
    header = (
        f"# Strangler flag table, exported at version {table.version}.\n"
        "# mode: legacy | new | canary | shadow | shadow-new; percent (0..100) is for canary;\n"
        "# dry_run lets shadow mode run unsafe methods in a rolled-back transaction.\n\n"
    )
    text = header + tomli_w.dumps({"routes": routes})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def import_flag_file(
    store: FlagStore,
    path: str | Path,
    *,
    actor: str,
    reason: str | None = None,
    expected_version: int | None = None,
    inventory: Inventory | None = None,
) -> FlagTable:
    """Apply every route of a flag file to the store in one change (routes not named stay).

    With ``inventory``, every route is checked first as ``set`` would check it, and the whole
    file is refused (:class:`FlagFileError` naming each bad route) if any fails: nothing is
    written, so a file is never half imported.
    """
    changes = load_flag_file(path)
    if inventory is not None:
        changes = check_flag_file(path, inventory, changes)
    return await store.set_flags(
        changes,
        actor=actor,
        reason=reason or f"import {Path(path).name}",
        expected_version=expected_version,
    )


def check_flag_file(
    path: str | Path, inventory: Inventory, changes: list[FlagChange]
) -> list[FlagChange]:
    """Return a file's changes if the inventory allows all of them, else raise FlagFileError."""
    try:
        return plan_import(inventory, FlagTable(version=0), changes)
    except RejectedImport as exc:
        raise FlagFileError(path, str(exc)) from exc


def _known_changes(path: Path, inventory: Inventory, changes: list[FlagChange]) -> list[FlagChange]:
    """Leave out (and log) the routes the inventory refuses; keep the others."""
    try:
        return plan_import(inventory, FlagTable(version=0), changes)
    except RejectedImport as exc:
        refused = {index for index, _ in exc.rejections}
        for _, rejection in exc.rejections:
            log.warning(
                "flag_file_unknown_route" if rejection.field == "route" else "flag_file_bad_mode",
                path=str(path),
                route=rejection.route,
                reason=rejection.reason,
            )
        kept = [change for index, change in enumerate(changes) if index not in refused]
        return plan_import(inventory, FlagTable(version=0), kept)


async def ensure_initialised(
    store: FlagStore,
    flag_file: str | Path = DEFAULT_FLAG_FILE,
    *,
    actor: str = "bootstrap",
    inventory: Inventory | None = None,
) -> FlagTable | None:
    """Import the flag file into a store that has no flags yet; return the table if imported.

    Safe when many workers start at once: the import is a compare-and-set on the version read
    before the emptiness check, so exactly one worker imports and the others see a conflict
    and leave the table alone. The file is validated even when the store is already populated,
    so a broken file is noticed at start rather than at the next fresh deployment.

    With ``inventory``, a route it does not know (or a mode naming a side that does not serve the
    route) is logged as ``flag_file_unknown_route`` (``flag_file_bad_mode``) and left out rather
    than stored for the router to ignore; the proxy still starts.
    """
    changes = load_flag_file(flag_file)
    if inventory is not None:
        changes = _known_changes(Path(flag_file), inventory, changes)
    version = await store.version()
    if not await store.is_empty():
        return None
    try:
        table = await store.set_flags(
            changes,
            actor=actor,
            reason=f"import {Path(flag_file).name}",
            expected_version=version,
        )
    except VersionConflict:
        log.info("flag_file_import_skipped", reason="another worker imported first")
        return None
    log.info("flag_file_imported", path=str(flag_file), routes=len(changes), version=table.version)
    return table
