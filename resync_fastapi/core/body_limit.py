"""Refuse request bodies over the limit with 413 before authentication, by header or by count.

A pure ASGI middleware. Routing comes first in docs/api.md (404/405), so only a request whose
path and method exist is refused here. A ``Content-Length`` over the limit is answered at once;
a POST/PUT/PATCH/DELETE body without one (chunked) is read here, up to the limit, and replayed
to the app, so it too is refused before authentication. Only a body *over* the limit is refused,
as docs/api.md says (the legacy app also refuses a chunked body of exactly the limit, because
Werkzeug cannot tell its end from more to come). Any other read is counted as it happens and
fails with :class:`PayloadTooLarge` on overflow; a request with neither ``Content-Length`` nor
``Transfer-Encoding`` has no body and passes through untouched. One route may
have its own limit (the RAG upload takes ``RESYNC_RAG_MAX_BYTES`` plus multipart framing).
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
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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
        declared, chunked = _framing(scope)
        if declared is None and not chunked:
            # No Content-Length and no Transfer-Encoding: the request has no body (RFC 9112
            # 6.3), nothing to count. Most requests (every GET) take this way, unwrapped.
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.default)
        if declared is not None and declared > limit.max_bytes and _route_exists(scope):
            await self._refuse(scope, receive, send, limit)
            return
        if declared is None and scope["method"] in BODY_METHODS and _route_exists(scope):
            buffered = await _read_at_most(receive, limit.max_bytes)
            if buffered is None:
                await self._refuse(scope, receive, send, limit)
                return
            receive = _replay(buffered, receive)

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


async def _read_at_most(receive: Receive, max_bytes: int) -> bytes | None:
    """Read a whole body, or return None as soon as it exceeds ``max_bytes``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away; the app sees an empty body
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """The ``Content-Length`` (None: absent or not a number) and whether a body may follow."""
    declared: int | None = None
    length_seen = chunked = False
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and not length_seen:
            length_seen = True
            try:
                declared = int(value)
            except ValueError:
                declared = None
        elif name == b"transfer-encoding":
            chunked = True
    return declared, chunked or (length_seen and declared is None)


def _route_exists(scope: Scope) -> bool:
    table = route_methods_of(scope)
    return table is None or table.serves(scope["method"], get_route_path(scope))
