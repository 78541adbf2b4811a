"""Refuse oversized request headers (431) and request bodies that arrive too slowly (408).

A pure ASGI guard in front of everything the proxy serves. Neither app bounds these: without
the guard a 100 KB bearer token is parsed and verified, and a body trickled at one byte a second
holds a connection, a request task and (on legacy) a pool thread for as long as the client
likes, so a handful of slow clients exhausts the legacy side.

* **Header size.** The request line's target and every header (name, value, the ``": "`` and
  CRLF around it) are added up once per request, from the scope; over ``max_header_bytes`` the
  request is answered ``431`` before any app sees it (a WebSocket handshake is refused the same
  way, with a denial response where the server supports one, else a plain close).
* **Body time.** Only while a body is still expected (``Content-Length`` above 0, or
  ``Transfer-Encoding``), each ``receive()`` may wait at most ``body_idle_timeout`` seconds and
  the whole body must have arrived ``body_total_timeout`` seconds after the request began. When
  either runs out, the client is answered ``408`` (if no response has started), the app's read
  ends as if the client had gone (``http.disconnect``), and whatever the app sends afterwards is
  dropped. Once the body is complete, ``receive()`` is passed through untouched, so a streamed
  response's disconnect watch is never timed.

Both answers are the contract's problem documents (``application/problem+json``, the
``request_id`` the proxy uses, ``Connection: close`` so the server drops the connection).
``on_reject(kind)`` is told ``"header_size"`` or ``"body_timeout"`` for metrics.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from proxy.problems import json_bytes
from proxy.routing.requestid import REQUEST_ID_HEADER, ensure_request_id
from proxy.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["REJECT_KINDS", "RequestLimits", "header_bytes"]

log = structlog.get_logger("proxy.routing.limits")

REJECT_KINDS = ("header_size", "body_timeout")
_EXPECTS_BODY = (b"content-length", b"transfer-encoding")


def header_bytes(scope: Scope) -> int:
    """Return the size of the request's target and headers as they came on the wire (about)."""
    size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") + 1
    for name, value in scope.get("headers") or ():
        size += len(name) + len(value) + 4  # ": " and CRLF
    return size


def _expects_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name in _EXPECTS_BODY:
            return name == b"transfer-encoding" or value.strip() not in (b"", b"0")
    return False


def _problem(status: int, slug: str, title: str, detail: str, scope: Scope) -> tuple[Message, ...]:
    request_id = ensure_request_id(scope)
    body = json_bytes(
        {
            "type": f"urn:resync:problem:{slug}",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": scope.get("path", ""),
            "request_id": request_id.decode("ascii"),
        }
    )
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"connection", b"close"),
            (REQUEST_ID_HEADER, request_id),
        ],
    }
    return start, {"type": "http.response.body", "body": body, "more_body": False}


class RequestLimits:
    """Wrap ``app``: 431 for headers over ``max_header_bytes``, 408 for slow bodies."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_header_bytes: int,
        body_idle_timeout: float,
        body_total_timeout: float,
        on_reject: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.body_idle_timeout = body_idle_timeout
        self.body_total_timeout = body_total_timeout
        self.on_reject = on_reject
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        size = header_bytes(scope)
        if size > self.max_header_bytes:
            self._rejected("header_size", scope, size=size)
            await self._refuse_headers(scope, send, size)
            return
        if kind == "http" and _expects_body(scope):
            await _TimedBody(self, scope, receive, send).run()
            return
        await self.app(scope, receive, send)

    def _rejected(self, kind: str, scope: Scope, **details: object) -> None:
        if self.on_reject is not None:
            self.on_reject(kind)
        client = scope.get("client")
        log.warning(
            "request_refused",
            reason=kind,
            method=scope.get("method", "WS"),
            client=client[0] if client else None,
            **details,
        )

    async def _refuse_headers(self, scope: Scope, send: Send, size: int) -> None:
        detail = (
            f"The request headers ({size} bytes) exceed the limit of {self.max_header_bytes} bytes."
        )
        start, body = _problem(
            431, "header-too-large", "Request header fields too large", detail, scope
        )
        if scope["type"] == "http":
            await send(start)
            await send(body)
            return
        if "websocket.http.response" in (scope.get("extensions") or {}):
            await send({**start, "type": "websocket.http.response.start"})
            await send({**body, "type": "websocket.http.response.body"})
        else:
            await send({"type": "websocket.close", "code": 1009})


class _TimedBody:
    """One request whose body is still to come: time its reads, answer 408 if they are slow."""

    __slots__ = (
        "_deadline",
        "_done",
        "_limits",
        "_receive",
        "_scope",
        "_send",
        "_started",
        "_timed_out",
    )

    def __init__(self, limits: RequestLimits, scope: Scope, receive: Receive, send: Send) -> None:
        self._limits = limits
        self._scope = scope
        self._receive = receive
        self._send = send
        self._deadline = limits._clock() + limits.body_total_timeout
        self._done = False  # the whole body has been received (or the client left)
        self._started = False  # a response start has gone out
        self._timed_out = False

    async def run(self) -> None:
        await self._limits.app(self._scope, self.receive, self.send)

    async def receive(self) -> Message:
        if self._done:
            return await self._receive()
        if self._timed_out:
            return {"type": "http.disconnect"}
        limits = self._limits
        remaining = self._deadline - limits._clock()
        wait = min(limits.body_idle_timeout, remaining)
        try:
            async with asyncio.timeout(max(wait, 0.0)):
                message = await self._receive()
        except TimeoutError:
            await self._time_out(total=remaining <= limits.body_idle_timeout)
            return {"type": "http.disconnect"}
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._done = True
        return message

    async def send(self, message: Message) -> None:
        if self._timed_out:
            return  # the client has had its 408; the app's late answer goes nowhere
        if message["type"] == "http.response.start":
            self._started = True
        await self._send(message)

    async def _time_out(self, *, total: bool) -> None:
        limits = self._limits
        self._timed_out = True
        if total:
            detail = f"The request body did not arrive within {limits.body_total_timeout:g} s."
        else:
            detail = f"The request body paused for more than {limits.body_idle_timeout:g} s."
        limits._rejected("body_timeout", self._scope, detail=detail)
        if self._started:
            return
        for message in _problem(408, "request-timeout", "Request timeout", detail, self._scope):
            await self._send(message)
