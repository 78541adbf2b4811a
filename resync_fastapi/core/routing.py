"""Route class that makes FastAPI's method handling match the legacy app's.

FastAPI serves only the declared methods and reports a single route's methods in ``Allow``;
docs/api.md wants ``HEAD`` wherever ``GET`` is served and ``Allow`` listing every method of the
path (several routes can share one path), sorted.

Responses: a route whose response model can hold no float (and nothing untyped) keeps FastAPI's
fast path, pydantic-core validating and writing JSON bytes in one step (compact, UTF-8, keys in
model order: the bytes the project's encoding writes). Where a float can appear, pydantic-core
would write ``1e-05`` as ``1e-5``, so those routes, and routes without a model, use the
project's encoding (``ResyncJSONResponse``).

Routers are included flat (:func:`include_flat`): FastAPI 0.13x+ keeps an included router as a
branch that is matched twice per level on every request (``matches`` then ``handle``), about a
tenth of a small request's CPU with two levels; flat routes are matched once, and a route whose
literal path prefix the request path lacks is refused before any regex or scope work.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.datastructures import DefaultPlaceholder
from fastapi.routing import APIRoute, APIRouter, APIWebSocketRoute, iter_route_contexts
from pydantic import TypeAdapter
from starlette.routing import BaseRoute, Match, get_route_path
from starlette.types import Receive, Scope, Send

from resync_fastapi.core.exceptions import MethodNotAllowed
from resync_fastapi.core.responses import ResyncJSONResponse

__all__ = ["ResyncRoute", "RouteMethods", "include_flat", "route_methods_of"]


class RouteMethods:
    """Which methods each path of an app serves, compiled once after the routes are added."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        self._table: list[tuple[re.Pattern[str], frozenset[str]]] = []
        for context in iter_route_contexts(routes):
            methods = context.methods
            if methods:
                self._table.append((context.path_regex, frozenset(methods)))

    def allowed(self, path: str) -> list[str]:
        """The sorted methods served for ``path`` (``HEAD`` wherever ``GET``, no ``OPTIONS``)."""
        methods: set[str] = set()
        for regex, route_methods in self._table:
            if regex.match(path):
                methods |= route_methods
        if "GET" in methods:
            methods.add("HEAD")
        methods.discard("OPTIONS")
        return sorted(methods)

    def serves(self, method: str, path: str) -> bool:
        """True if some route answers ``method`` on ``path``."""
        return method in self.allowed(path)


def route_methods_of(scope: Scope) -> RouteMethods | None:
    """The :class:`RouteMethods` of the app serving ``scope`` (None outside one)."""
    app = scope.get("app")
    state = getattr(app, "state", None)
    return getattr(state, "route_methods", None)


_OPEN_SCHEMA_KEYS = frozenset({"title", "description", "examples", "default"})


def _may_hold_floats(node: Any) -> bool:
    """True if a JSON schema can match a float or a value of unknown type."""
    if isinstance(node, list):
        return any(_may_hold_floats(item) for item in node)
    if not isinstance(node, dict):
        return False
    if node.get("type") == "number" or node.get("additionalProperties") is True:
        return True
    if not (node.keys() - _OPEN_SCHEMA_KEYS):
        return True  # {}: Any
    return any(
        _may_hold_floats(value)
        for key, value in node.items()
        if key not in ("examples", "default", "enum", "const", "required")
    )


def dumps_json_safely(model: Any) -> bool:
    """True if pydantic-core's JSON for ``model`` is byte-for-byte the project's encoding."""
    if model is None:
        return False
    try:
        schema = TypeAdapter(model).json_schema(mode="serialization")
    except Exception:  # anything pydantic cannot describe takes the safe path
        return False
    return not _may_hold_floats(schema)


class ResyncRoute(APIRoute):
    """An ``APIRoute`` that answers ``HEAD`` like ``GET`` and lists every method in 405s."""

    def __init__(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        response_class = kwargs.get("response_class")
        if response_class is None or isinstance(response_class, DefaultPlaceholder):
            model = kwargs.get("response_model")
            if isinstance(model, DefaultPlaceholder):
                model = model.value
            # A placeholder lets FastAPI take its pydantic-core fast path (dump_json to bytes).
            kwargs["response_class"] = (
                DefaultPlaceholder(ResyncJSONResponse)
                if dumps_json_safely(model)
                else ResyncJSONResponse
            )
        super().__init__(path, endpoint, **kwargs)
        self._methods: frozenset[str] = frozenset(self.methods or ())
        # Set by include_flat (the route then sits at its full path in the app's own router):
        # every path this route matches starts with it.
        self.literal_prefix: str | None = None

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        prefix = self.literal_prefix
        if prefix is not None and not get_route_path(scope).startswith(prefix):
            return Match.NONE, {}
        if scope["type"] == "http" and scope["method"] == "HEAD" and "GET" in self._methods:
            return super().matches({**scope, "method": "GET"})
        return super().matches(scope)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method in self._methods or (method == "HEAD" and "GET" in self._methods):
            await self.app(scope, receive, send)
            return
        table = route_methods_of(scope)
        allowed = table.allowed(get_route_path(scope)) if table else sorted(self._methods)
        raise MethodNotAllowed(method, ", ".join(allowed))


def _literal_prefix(path_format: str) -> str:
    """The part of a route path before its first parameter (the whole path if it has none)."""
    return path_format.split("{", 1)[0]


def include_flat(target: APIRouter, router: APIRouter, *, prefix: str = "") -> None:
    """Add ``router``'s routes to ``target`` at ``prefix`` + their path, one level, in order.

    What ``target.include_router(router, prefix=prefix)`` serves and documents (the routes
    already carry their router's tags, responses and dependencies), without the branch FastAPI
    would match on every request. Each route is built anew with its own attributes, its
    response class included: ``add_api_route`` would swap the fast-path placeholder for the
    app's default class. Only FastAPI's HTTP and WebSocket routes are supported.
    """
    for route in router.routes:
        if isinstance(route, APIRoute):
            added = type(route)(
                target.prefix + prefix + route.path,
                route.endpoint,
                response_model=route.response_model,
                status_code=route.status_code,
                tags=[*target.tags, *route.tags],
                dependencies=[*target.dependencies, *route.dependencies],
                summary=route.summary,
                description=route.description,
                response_description=route.response_description,
                responses={**target.responses, **route.responses},
                deprecated=route.deprecated,
                name=route.name,
                methods=sorted(route.methods or ()),
                operation_id=route.operation_id,
                response_model_include=route.response_model_include,
                response_model_exclude=route.response_model_exclude,
                response_model_by_alias=route.response_model_by_alias,
                response_model_exclude_unset=route.response_model_exclude_unset,
                response_model_exclude_defaults=route.response_model_exclude_defaults,
                response_model_exclude_none=route.response_model_exclude_none,
                include_in_schema=route.include_in_schema and target.include_in_schema,
                response_class=route.response_class,
                dependency_overrides_provider=target.dependency_overrides_provider,
                callbacks=route.callbacks,
                openapi_extra=route.openapi_extra,
                generate_unique_id_function=route.generate_unique_id_function,
                strict_content_type=route.strict_content_type,
                max_body_size=route.max_body_size,
                form_limits=route.form_limits,
            )
            if isinstance(added, ResyncRoute):
                added.literal_prefix = _literal_prefix(added.path_format)
            target.routes.append(added)
            _routes_changed(target)
        elif isinstance(route, APIWebSocketRoute):
            target.add_api_websocket_route(
                prefix + route.path,
                route.endpoint,
                name=route.name,
                dependencies=list(route.dependencies),
            )
        else:
            raise TypeError(f"include_flat cannot add {type(route).__name__} {route!r}")


def _routes_changed(router: APIRouter) -> None:
    # What add_api_route does after appending (FastAPI's cache of included branches).
    mark = getattr(router, "_mark_routes_changed", None)
    if mark is not None:
        mark()
