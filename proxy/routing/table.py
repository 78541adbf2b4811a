"""Compile the inventory and the flag table into the structure the hot path reads.

A :class:`RouteTable` is immutable. The proxy builds a new one whenever the flag table changes
and swaps it in with one attribute assignment, so a request reads either the old table or the new
one, never a mix, and the hot path takes no lock and does no I/O. Matching a request costs one
dict lookup for parameterless paths, otherwise one ``fullmatch`` of a regular expression compiled
per method (all of that method's templates as named alternatives). Routes whose decision does not
depend on the caller carry it precomputed, with the response headers already encoded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from proxy.inventory import LEGACY, NEW, SIDES, WEBSOCKET, Inventory, Route
from proxy.modes import FlagTable, Mode, RouteFlag, effective_flag
from proxy.routing.decide import LEGACY_ONLY, NEW_ONLY, Decision, decide
from proxy.types import Headers, Scope

__all__ = ["RouteEntry", "RouteTable"]

_SERVED_BY = b"x-served-by"
_ROUTE = b"x-route"
_BOTH_SIDES = frozenset(SIDES)


class RouteEntry:
    """One matchable route (or a fallback) with its flag, its decision and its headers."""

    __slots__ = ("fixed", "flag", "headers", "key", "label", "route")

    def __init__(
        self,
        route: Route | None,
        flag: RouteFlag,
        *,
        served_by_headers: bool,
        fallback_side: str | None = None,
    ) -> None:
        self.route = route
        self.flag = flag
        self.key = route.key if route is not None else None
        # The metrics label: bounded, so unknown paths share one.
        self.label = self.key if self.key is not None else "unmatched"
        self.fixed: Decision | None
        if fallback_side is not None:
            self.fixed = LEGACY_ONLY if fallback_side == LEGACY else NEW_ONLY
        elif flag.mode is Mode.LEGACY:
            self.fixed = LEGACY_ONLY
        elif flag.mode is Mode.NEW:
            self.fixed = NEW_ONLY
        elif flag.mode is Mode.CANARY and flag.percent in (0, 100):
            self.fixed = NEW_ONLY if flag.percent == 100 else LEGACY_ONLY
        else:
            self.fixed = None
        self.headers: dict[str, Headers] = {}
        for side in SIDES:
            extra: Headers = []
            if served_by_headers:
                extra.append((_SERVED_BY, side.encode("ascii")))
                if self.key is not None:
                    extra.append((_ROUTE, self.key.encode("latin-1")))
            self.headers[side] = extra

    def decide(self, scope: Scope) -> Decision:
        """Return this request's decision (precomputed unless the flag depends on the caller)."""
        fixed = self.fixed
        if fixed is not None:
            return fixed
        return decide(self.flag, scope)

    def __repr__(self) -> str:
        return f"RouteEntry({self.label!r}, mode={self.flag.mode.value!r})"


def _priority(route: Route) -> tuple[int, int, str]:
    """Order templates so more literal ones are tried first (``/a/b/{x}`` before ``/a/{x}/{y}``)."""
    segments = route.path_template.strip("/").split("/")
    literal = sum(1 for segment in segments if "{" not in segment)
    return (-literal, -len(segments), route.path_template)


class _Matcher:
    """Match paths for one method: a dict of static paths and one alternation regex."""

    __slots__ = ("dynamic", "entries", "static")

    def __init__(self, items: Iterable[tuple[Route, RouteEntry]]) -> None:
        self.static: dict[str, RouteEntry] = {}
        self.entries: dict[str, RouteEntry] = {}
        alternatives: list[str] = []
        dynamic = [(route, entry) for route, entry in items if not self._add_static(route, entry)]
        for index, (route, entry) in enumerate(
            sorted(dynamic, key=lambda item: _priority(item[0]))
        ):
            name = f"r{index}"
            self.entries[name] = entry
            pattern = "|".join(route.patterns)
            alternatives.append(f"(?P<{name}>{pattern})")
        self.dynamic = re.compile("|".join(alternatives)) if alternatives else None

    def _add_static(self, route: Route, entry: RouteEntry) -> bool:
        if not route.is_static:
            return False
        self.static.setdefault(route.path_template, entry)
        return True

    def match(self, path: str) -> RouteEntry | None:
        entry = self.static.get(path)
        if entry is not None:
            return entry
        dynamic = self.dynamic
        if dynamic is None:
            return None
        found = dynamic.fullmatch(path)
        if found is None:
            return None
        return self.entries[found.lastgroup]  # type: ignore[index]  # one named group per branch


class RouteTable:
    """The compiled, immutable routing state of one flag-table version."""

    __slots__ = ("_by_method", "_entries", "_fallback", "_path_fallback", "unmatched", "version")

    def __init__(
        self,
        inventory: Inventory,
        flags: FlagTable,
        *,
        served_by_headers: bool = True,
    ) -> None:
        self.version = flags.version
        self._entries: dict[str, RouteEntry] = {}
        by_method: dict[str, list[tuple[Route, RouteEntry]]] = {}
        by_path: dict[str, Route] = {}
        for route in inventory.values():
            entry = RouteEntry(
                route,
                effective_flag(route, flags.get(route.key)),
                served_by_headers=served_by_headers,
            )
            self._entries[route.key] = entry
            by_method.setdefault(route.method, []).append((route, entry))
            if not route.websocket:
                known = by_path.get(route.path_template)
                sides = route.sides | (known.sides if known else frozenset())
                by_path[route.path_template] = Route(
                    key=route.key,
                    method="*",
                    path_template=route.path_template,
                    sides=sides,
                    patterns=route.patterns + (known.patterns if known else ()),
                )
        self._by_method = {method: _Matcher(items) for method, items in by_method.items()}
        self._fallback = {
            side: RouteEntry(
                None,
                RouteFlag(route=f"FALLBACK /{side}", mode=Mode(side)),
                served_by_headers=served_by_headers,
                fallback_side=side,
            )
            for side in SIDES
        }
        # A known path with a method no side declares goes to a side that has the path, so its
        # 405 (and Allow header) comes from an app that knows the path.
        self._path_fallback = _Matcher(
            (route, self._fallback[LEGACY if LEGACY in route.sides else NEW])
            for route in by_path.values()
        )
        self.unmatched = self._fallback[LEGACY]

    def match(self, method: str, path: str) -> RouteEntry:
        """Return the entry for an HTTP request; unknown paths get the legacy fallback."""
        if method == "HEAD":
            method = "GET"
        matcher = self._by_method.get(method)
        if matcher is not None:
            entry = matcher.match(path)
            if entry is not None:
                return entry
        return self._path_fallback.match(path) or self.unmatched

    def match_websocket(self, path: str) -> RouteEntry:
        """Return the entry for a WebSocket handshake; unknown paths get the legacy fallback."""
        matcher = self._by_method.get(WEBSOCKET)
        entry = matcher.match(path) if matcher is not None else None
        return entry or self.unmatched

    def get(self, key: str) -> RouteEntry | None:
        """Return the entry of a route key, or ``None``."""
        return self._entries.get(key)

    @property
    def entries(self) -> Mapping[str, RouteEntry]:
        """Every route's entry, by key, in inventory order."""
        return self._entries

    def __len__(self) -> int:
        return len(self._entries)
