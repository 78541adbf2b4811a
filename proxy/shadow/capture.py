"""Keep a bounded copy of an HTTP response as it passes, and call an ASGI app on a buffered request.

Both the dispatcher (teeing the primary's answer while it streams to the client) and shadow mode
(collecting the candidate's answer) need the same thing: the status, the headers and at most
``limit`` bytes of body, with a flag when the body was cut. Copies are bounded so a large export
or upload can never make the proxy hold an unbounded amount of memory per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from proxy.types import ASGIApp, Message, Scope, Send

__all__ = [
    "DEFAULT_BODY_LIMIT",
    "CapturedResponse",
    "ResponseRecorder",
    "TeedResponse",
    "call_asgi",
    "header_value",
]

DEFAULT_BODY_LIMIT = 1024 * 1024


@dataclass(frozen=True)
class CapturedResponse:
    """A response as seen on the wire: status, raw headers and (at most a limit of) body."""

    status: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    truncated: bool = False

    def header(self, name: str) -> str | None:
        """Return a header's value (several values joined by ``", "``), or None."""
        return header_value(self.headers, name)

    @property
    def content_type(self) -> str:
        """Return the media type without parameters, lower-cased (``""`` when absent)."""
        value = self.header("content-type") or ""
        return value.split(";", 1)[0].strip().lower()

    @classmethod
    def from_httpx(cls, response: Any, *, limit: int | None = None) -> CapturedResponse:
        """Capture an ``httpx.Response`` (already read) with the same bound as the proxy."""
        body = response.content
        truncated = limit is not None and len(body) > limit
        return cls(
            status=response.status_code,
            headers=[(k.lower(), v) for k, v in response.headers.raw],
            body=body[:limit] if truncated else body,
            truncated=truncated,
        )


class TeedResponse(NamedTuple):
    """A response as the tee kept it, uncopied: header pairs as sent (names not lower-cased)."""

    status: int
    headers: Sequence[tuple[bytes, bytes]]
    body: bytes
    truncated: bool


def header_value(headers: Iterable[tuple[bytes, bytes]], name: str) -> str | None:
    """Return the value of header ``name`` in a raw ASGI header list, or None."""
    wanted = name.lower().encode("latin-1")
    values = [v.decode("latin-1").strip() for k, v in headers if k.lower() == wanted]
    return ", ".join(values) if values else None


class ResponseRecorder:
    """Wrap an ASGI ``send`` to keep a bounded copy of what it sends.

    Create one per request (never share it between requests)::

        recorder = ResponseRecorder(limit=settings.shadow_body_limit)
        await app(scope, receive, recorder.wrap(send))
        captured = recorder.captured()   # None if the app never started a response

    ``record`` only keeps references (the start's header pairs as a tuple, body chunks as
    sent); ``captured`` builds the copy (lower-cased names, one joined body), so traffic
    capture can hand the recorder itself to its writer thread and build the copy there.
    """

    __slots__ = ("_chunks", "_complete", "_headers", "_kept", "_limit", "_status", "_truncated")

    def __init__(self, limit: int = DEFAULT_BODY_LIMIT) -> None:
        self._limit = limit
        self._status: int | None = None
        self._headers: tuple[tuple[bytes, bytes], ...] = ()
        self._chunks: list[bytes] = []  # kept as sent (no copy); joined once, by captured()
        self._kept = 0
        self._truncated = False
        self._complete = False

    @property
    def started(self) -> bool:
        """Tell whether the response was started (``captured()`` then returns a copy)."""
        return self._status is not None

    @property
    def complete(self) -> bool:
        """Tell whether the final body message (``more_body`` false) went out."""
        return self._complete

    def record(self, message: Message) -> None:
        """Take note of one ASGI send message."""
        kind = message.get("type")
        if kind == "http.response.start":
            self._status = int(message["status"])
            # A snapshot of the list as sent (its pairs are bytes); names are lower-cased (and
            # values made bytes) by captured(), which capture calls on its writer thread.
            self._headers = tuple(message.get("headers", ()))
        elif kind == "http.response.body":
            chunk = message.get("body", b"")
            size = len(chunk)
            room = self._limit - self._kept
            if size > room:
                self._truncated = True
                chunk = chunk[:room] if room > 0 else b""
            if chunk:
                self._chunks.append(bytes(chunk))  # no copy for bytes, as ASGI sends them
                self._kept += len(chunk)
            if not message.get("more_body", False):
                self._complete = True

    def wrap(self, send: Send) -> Send:
        """Return a ``send`` that records each message, then forwards it unchanged."""

        async def recording_send(message: Message) -> None:
            self.record(message)
            await send(message)

        return recording_send

    def teed(self) -> TeedResponse | None:
        """Return what was kept without copying it (None when no response was started)."""
        if self._status is None:
            return None
        chunks = self._chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return TeedResponse(
            self._status, self._headers, body, self._truncated or not self._complete
        )

    def captured(self) -> CapturedResponse | None:
        """Return the copy so far, or None when no response was started."""
        if self._status is None:
            return None
        return CapturedResponse(
            status=self._status,
            headers=[(bytes(k).lower(), bytes(v)) for k, v in self._headers],
            body=b"".join(self._chunks),  # one chunk: that very object
            truncated=self._truncated or not self._complete,
        )


async def call_asgi(
    app: ASGIApp, scope: Scope, body: bytes, *, limit: int = DEFAULT_BODY_LIMIT
) -> CapturedResponse:
    """Run ``app`` on one buffered HTTP request and return its bounded response.

    The request body is delivered in one message; after it, ``receive`` waits until the
    response is complete and only then reports a disconnect, so streaming responses that
    listen for disconnects are not cut short. Raises ``RuntimeError`` if the app returns
    without starting a response.
    """
    recorder = ResponseRecorder(limit)
    finished = asyncio.Event()
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        recorder.record(message)
        if recorder.complete:
            finished.set()

    try:
        await app(scope, receive, send)
    finally:
        finished.set()
    captured = recorder.captured()
    if captured is None:
        raise RuntimeError("the application returned without starting a response")
    return captured
