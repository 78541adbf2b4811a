"""Route class that makes FastAPI's method handling match the legacy app's.

FastAPI serves only the declared methods and reports a single route's methods in ``Allow``;
docs/api.md wants ``HEAD`` wherever ``GET`` is served and ``Allow`` listing every method of the
path (several routes can share one path), sorted. Responses default to the project's encoding
even where FastAPI would take its pydantic fast path, whose float formatting differs.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute, Match, get_route_path
from starlette.types import Receive, Scope, Send

from resync_fastapi.core.exceptions import MethodNotAllowed
from resync_fastapi.core.responses import ResyncJSONResponse

__all__ = ["ResyncRoute", "RouteMethods", "route_methods_of"]


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


class ResyncRoute(APIRoute):
    """An ``APIRoute`` that answers ``HEAD`` like ``GET`` and lists every method in 405s."""

    def __init__(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        kwargs["response_class"] = kwargs.get("response_class") or ResyncJSONResponse
        if getattr(kwargs["response_class"], "value", None) is not None:
            # A DefaultPlaceholder: FastAPI would bypass it for its own pydantic encoder.
            kwargs["response_class"] = ResyncJSONResponse
        super().__init__(path, endpoint, **kwargs)
        self._methods: frozenset[str] = frozenset(self.methods or ())

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
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
