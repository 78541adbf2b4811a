"""Refuse request bodies over the limit with 413, by header and while streaming.

A pure ASGI middleware: a ``Content-Length`` over the limit is answered at once (after making
sure the path and method exist, since 404/405 come first in docs/api.md); a body without one
is counted as it is read and the read fails with :class:`PayloadTooLarge` when it overflows.
One route may have its own limit (the RAG upload takes ``RESYNC_RAG_MAX_BYTES``).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.routing import get_route_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resync_fastapi.core.exceptions import PayloadTooLarge
from resync_fastapi.core.responses import problem_response
from resync_fastapi.core.routing import route_methods_of

__all__ = ["JSON_BODY_LIMIT", "BodyLimit", "BodyLimitMiddleware"]

JSON_BODY_LIMIT = 1024 * 1024


class BodyLimit:
    """A byte limit and the detail its 413 carries."""

    __slots__ = ("detail", "max_bytes")

    def __init__(self, max_bytes: int, detail: str) -> None:
        self.max_bytes = max_bytes
        self.detail = detail


class BodyLimitMiddleware:
    """Answer 413 for bodies over the limit of their path."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        default: BodyLimit | None = None,
        per_path: Mapping[str, BodyLimit] | None = None,
    ) -> None:
        self.app = app
        self.default = default or BodyLimit(
            JSON_BODY_LIMIT, f"The request body exceeds the limit of {JSON_BODY_LIMIT} bytes."
        )
        self.per_path = dict(per_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.default)
        declared = _content_length(scope)
        if declared is not None and declared > limit.max_bytes and _route_exists(scope):
            await self._refuse(scope, receive, send, limit)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.max_bytes:
                    raise PayloadTooLarge(limit.detail)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except PayloadTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send, limit)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: BodyLimit) -> None:
        error = PayloadTooLarge(limit.detail)
        response = problem_response(
            scope, status=error.status, slug=error.slug, title=error.title, detail=error.detail
        )
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _route_exists(scope: Scope) -> bool:
    table = route_methods_of(scope)
    return table is None or table.serves(scope["method"], get_route_path(scope))
