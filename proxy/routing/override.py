"""Let a tester pick the side that answers them: a header or cookie, for trusted roles only.

With ``STRANGLER_OVERRIDE_HEADER`` (e.g. ``X-Strangler-Side``) and/or
``STRANGLER_OVERRIDE_COOKIE`` set and ``STRANGLER_OVERRIDE_ROLES`` naming roles (``tester``),
a request carrying ``legacy`` or ``new`` there *and* a bearer token that the admin API's verifier
accepts with one of those roles is answered by that side, whatever the route's mode (so a tester
can try ``new`` on a route still on legacy). It is off by default. The token is verified only
when the override is asked for, so other requests pay one header scan. A refused override
(no token, wrong role, a route the side does not serve) is ignored and logged; a value other
than ``legacy`` or ``new`` is a 400. Honoured overrides are counted
(``strangler_side_overrides_total{route,side}``) and appear as ``side_override`` in the access
line. A forced request is not shadowed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie

import structlog
from structlog.contextvars import bind_contextvars, reset_contextvars

from proxy.auth import InvalidToken, TokenVerifier, bearer_token
from proxy.inventory import LEGACY, NEW
from proxy.problems import problem_response
from proxy.routing.requestid import ensure_request_id
from proxy.types import ASGIApp, Receive, Scope, Send

__all__ = ["FORCED_SIDE_KEY", "SideOverride"]

#: The scope key the dispatcher reads: the side a verified tester asked for.
FORCED_SIDE_KEY = "strangler.side"

log = structlog.get_logger("proxy.routing.override")


class SideOverride:
    """Pure ASGI wrapper around the dispatcher's HTTP entry point (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: TokenVerifier,
        roles: frozenset[str],
        header: str | None = None,
        cookie: str | None = None,
        route_of: Callable[[str, str], tuple[str, frozenset[str]] | None],
        on_override: Callable[[str, str], None] | None = None,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.roles = roles
        self.header = header.lower().encode("latin-1") if header else None
        self.cookie = cookie
        self.route_of = route_of
        self.on_override = on_override

    def _asked(self, scope: Scope) -> tuple[str | None, str | None]:
        """Return (asked side, authorization header value) from one pass over the headers."""
        asked = authorization = None
        cookies: list[str] = []
        for name, value in scope.get("headers") or ():
            if self.header is not None and name == self.header:
                asked = value.decode("latin-1").strip().lower()
            elif name == b"authorization":
                authorization = value.decode("latin-1")
            elif self.cookie is not None and name == b"cookie":
                cookies.append(value.decode("latin-1"))
        if asked is None and cookies:
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load("; ".join(cookies))
            except CookieError:
                return None, authorization
            morsel = jar.get(self.cookie or "")
            if morsel is not None:
                asked = morsel.value.strip().lower()
        return asked, authorization

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        asked, authorization = self._asked(scope)
        if asked is None:
            await self.app(scope, receive, send)
            return
        if asked not in (LEGACY, NEW):
            request_id = ensure_request_id(scope).decode("ascii")
            response = problem_response(
                400,
                f"The side override must be 'legacy' or 'new', not {asked[:20]!r}.",
                instance=str(scope.get("path", "/")),
                request_id=request_id,
                headers={"X-Request-ID": request_id},
            )
            await response(scope, receive, send)
            return
        side = await self._verified(scope, asked, authorization)
        if side is None:
            await self.app(scope, receive, send)
            return
        scope[FORCED_SIDE_KEY] = side
        tokens = bind_contextvars(side_override=side)
        try:
            await self.app(scope, receive, send)
        finally:
            reset_contextvars(**tokens)

    async def _verified(self, scope: Scope, side: str, authorization: str | None) -> str | None:
        token = bearer_token(authorization)
        if token is None:
            log.info("side_override_refused", why="no bearer token", side=side)
            return None
        try:
            result = self.verifier(token)
            principal = await result if inspect.isawaitable(result) else result
        except InvalidToken:
            log.info("side_override_refused", why="invalid token", side=side)
            return None
        if principal.role not in self.roles:
            log.info("side_override_refused", why="role", role=principal.role, side=side)
            return None
        found = self.route_of(scope.get("method", "GET"), scope.get("path", "/"))
        if found is None or side not in found[1]:
            log.info("side_override_refused", why="side does not serve the route", side=side)
            return None
        if self.on_override is not None:
            self.on_override(found[0], side)
        return side
