"""Read the routes both apps serve and name each one ``METHOD /path/{param}``.

The inventory is what the flag table is keyed by and what the route table matches against. Each
framework spells parameters its own way (Flask ``<int:agent_id>``, Starlette ``{agent_id:int}``);
both become ``{agent_id}`` in the key, and each side keeps the regular expression its own router
uses so the proxy matches a path exactly when that side would. ``HEAD`` and ``OPTIONS`` are not
keys: ``HEAD`` follows its ``GET`` and ``OPTIONS`` is answered (or refused) by whichever side a
path falls back to. WebSocket routes are keyed ``WS /path``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "LEGACY",
    "NEW",
    "SIDES",
    "WEBSOCKET",
    "Inventory",
    "Route",
    "inventory_from_fastapi",
    "inventory_from_flask",
    "merge",
]

LEGACY = "legacy"
NEW = "new"
SIDES = (LEGACY, NEW)
WEBSOCKET = "WS"
_IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})

# Werkzeug's rule syntax: ``<converter(args):name>`` or ``<name>``.
_FLASK_PARAM = re.compile(
    r"<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*)(?:\((?P<args>.*?)\))?:)?(?P<name>[a-zA-Z_]\w*)>"
)
_NAMED_GROUP = re.compile(r"\(\?P<[a-zA-Z_]\w*>")


@dataclass(frozen=True, slots=True)
class Route:
    """One route key, the sides that serve it, and the patterns that match its paths.

    ``patterns`` are regular expressions (no anchors, no named groups) for the path as each
    serving side's router would match it; a path belongs to the route when any of them matches.
    """

    key: str
    method: str
    path_template: str
    sides: frozenset[str]
    websocket: bool = False
    patterns: tuple[str, ...] = ()

    @property
    def is_static(self) -> bool:
        """Whether the path has no parameters (so an exact string comparison matches it)."""
        return "{" not in self.path_template


class Inventory(Mapping[str, Route]):
    """The merged, read-only set of routes, iterated in path then method order."""

    __slots__ = ("_routes",)

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        ordered = sorted(routes, key=lambda route: (route.path_template, route.method))
        self._routes: dict[str, Route] = {route.key: route for route in ordered}

    def __getitem__(self, key: str) -> Route:
        return self._routes[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._routes)

    def __len__(self) -> int:
        return len(self._routes)

    def routes(self) -> list[Route]:
        """Return every route, sorted by path then method."""
        return list(self._routes.values())

    def __repr__(self) -> str:
        return f"Inventory({len(self._routes)} routes)"


def route_key(method: str, path_template: str) -> str:
    """Return the flag key for a method and a normalised path template."""
    return f"{method} {path_template}"


def _strip_groups(pattern: str) -> str:
    """Turn named groups into plain groups so many patterns can share one compiled regex."""
    return _NAMED_GROUP.sub("(?:", pattern)


def _flask_template(app: Any, rule: str) -> tuple[str, str]:
    """Return ``(template, regex)`` for a Werkzeug rule string, using the app's converters."""
    from werkzeug.routing.rules import parse_converter_args

    converters = app.url_map.converters
    template: list[str] = []
    regex: list[str] = []
    position = 0
    for match in _FLASK_PARAM.finditer(rule):
        static = rule[position : match.start()]
        template.append(static)
        regex.append(re.escape(static))
        name = match["name"]
        converter_name = match["converter"] or "default"
        args, kwargs = parse_converter_args(match["args"]) if match["args"] else ((), {})
        converter = converters[converter_name](app.url_map, *args, **kwargs)
        template.append("{" + name + "}")
        regex.append(f"(?:{_strip_groups(converter.regex)})")
        position = match.end()
    tail = rule[position:]
    template.append(tail)
    regex.append(re.escape(tail))
    return "".join(template), "".join(regex)


def _side_routes(methods: Iterable[str], template: str, regex: str, side: str) -> list[Route]:
    """One :class:`Route` per method of a path template served by ``side``."""
    return [
        Route(
            key=route_key(method, template),
            method=method,
            path_template=template,
            sides=frozenset({side}),
            websocket=method == WEBSOCKET,
            patterns=(regex,),
        )
        for method in methods
    ]


def inventory_from_flask(app: Any, *, side: str = LEGACY) -> list[Route]:
    """List the routes of a Flask app from its ``url_map`` (the ``static`` endpoint included)."""
    routes: list[Route] = []
    for rule in app.url_map.iter_rules():
        template, regex = _flask_template(app, rule.rule)
        if getattr(rule, "websocket", False):
            methods: Iterable[str] = [WEBSOCKET]
        else:
            methods = sorted(set(rule.methods or ()) - _IGNORED_METHODS)
        routes.extend(_side_routes(methods, template, regex, side))
    return routes


def _endpoint_routes(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Yield ``(prefix, original_route, view)`` for every endpoint, descending into mounts.

    FastAPI (0.13x+) keeps included routers as lazy branches in ``app.routes``;
    ``fastapi.routing.iter_route_contexts`` (what its OpenAPI generator uses) resolves them to
    views with the effective ``path_format``, ``path_regex`` and ``methods``.
    """
    from starlette.routing import Mount

    iter_route_contexts: Any
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # an older FastAPI, or plain Starlette: routes are already flat
        iter_route_contexts = None

    for route in routes:
        if isinstance(route, Mount):
            if route.routes:
                yield from _endpoint_routes(route.routes, prefix + route.path)
            continue
        if iter_route_contexts is None:
            yield prefix, route, route
            continue
        for context in iter_route_contexts([route]):
            yield prefix, context.original_route, context


def inventory_from_fastapi(app: Any, *, side: str = NEW) -> list[Route]:
    """List the HTTP and WebSocket routes of a FastAPI (or Starlette) app from its router.

    Routes whose shape the proxy cannot key (a mounted sub-application without a router, such as
    static files) are left out; their paths fall back like unknown ones.
    """
    from starlette.routing import Route as HTTPRoute
    from starlette.routing import WebSocketRoute

    routes: list[Route] = []
    for prefix, original, view in _endpoint_routes(app.routes):
        if not isinstance(original, HTTPRoute | WebSocketRoute):
            continue
        template = prefix + view.path_format
        pattern = view.path_regex.pattern.removeprefix("^").removesuffix("$")
        regex = re.escape(prefix) + _strip_groups(pattern)
        if isinstance(original, WebSocketRoute):
            methods: Iterable[str] = [WEBSOCKET]
        else:
            methods = sorted(set(view.methods or ()) - _IGNORED_METHODS)
        routes.extend(_side_routes(methods, template, regex, side))
    return routes


def merge(*sides: Iterable[Route]) -> Inventory:
    """Merge per-side route lists into one inventory; a key served by both knows both."""
    merged: dict[str, Route] = {}
    for routes in sides:
        for route in routes:
            known = merged.get(route.key)
            if known is None:
                merged[route.key] = route
                continue
            patterns = known.patterns + tuple(p for p in route.patterns if p not in known.patterns)
            merged[route.key] = Route(
                key=known.key,
                method=known.method,
                path_template=known.path_template,
                sides=known.sides | route.sides,
                websocket=known.websocket,
                patterns=patterns,
            )
    return Inventory(merged.values())
