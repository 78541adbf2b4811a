"""Serve the legacy WSGI app from the proxy's event loop through a2wsgi's thread pool.

a2wsgi runs each request in a pool thread that iterates the WSGI response and hands every chunk
to the event loop. Nothing tells that thread when the client goes away: uvicorn's ``send``
silently drops messages for a closed connection, so a slow streamed response keeps its thread
until the generator runs dry (forever, for an endless stream), and a pool of N threads is then
exhausted by N abandoned downloads. :class:`LegacyWSGIApp` closes that gap: once the request body
is fully read and the response has started, it waits on ``receive()`` for ``http.disconnect``;
when that arrives before the response is complete, the pool thread's next ``send`` raises
:class:`ClientDisconnected`, which unwinds the WSGI loop and calls the iterable's ``close()``
(PEP 3333), freeing the thread at the next chunk boundary. If the sending side fails, the thread
is released the same way instead of blocking on a full queue that nobody drains any more.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from a2wsgi.wsgi import WSGIMiddleware, WSGIResponder

from proxy.errors import ProxyError
from proxy.types import Message, Receive, Scope, Send

__all__ = ["ClientDisconnected", "LegacyWSGIApp"]


class ClientDisconnected(ProxyError):
    """The client closed the connection before the legacy response was complete."""


def _declares_body(scope: Scope) -> bool:
    """Whether the request says it has a body (a non-zero length, or chunked)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False


class _Responder(WSGIResponder):
    """One legacy request: a2wsgi's responder that notices the client leaving."""

    def __init__(self, app: Any, executor: ThreadPoolExecutor, send_queue_size: int) -> None:
        super().__init__(app, executor, send_queue_size)
        # Written on the event loop, read by the pool thread; a bool store is atomic.
        self.client_gone = False
        self._body_read = False
        self._response_started = False
        self._watcher: asyncio.Task[None] | None = None
        self._early: Message | None = None

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:  # type: ignore[override]
        self._body_read = not _declares_body(scope)

        async def tracking_receive() -> Message:
            early, self._early = self._early, None
            message = early if early is not None else await receive()
            if message["type"] == "http.disconnect":
                self.client_gone = True
            elif not message.get("more_body", False):
                self._body_read = True
                self._watch(receive)
            return message

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._response_started = True
                self._watch(receive)
            elif not message.get("more_body", False):
                self._stop_watching()
            await send(message)

        try:
            await super().__call__(scope, tracking_receive, tracking_send)
        finally:
            self._stop_watching()

    def _watch(self, receive: Receive) -> None:
        """Start waiting for ``http.disconnect`` once nothing else will call ``receive``."""
        if self._watcher is None and self._body_read and self._response_started:
            self._watcher = self.loop.create_task(self._wait_for_disconnect(receive))

    async def _wait_for_disconnect(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.client_gone = True
                return
            # A bodiless request's empty body message: keep it for the app, should it ask.
            self._early = message

    def _stop_watching(self) -> None:
        if self._watcher is not None and not self._watcher.done():
            self._watcher.cancel()

    def send(self, message: Any) -> None:
        """Queue a message for the event loop, or stop the WSGI loop if the client has gone."""
        if self.client_gone:
            raise ClientDisconnected("client disconnected during the legacy response")
        super().send(message)

    async def sender(self, send: Send) -> None:  # type: ignore[override]
        """Forward queued messages; after a failed send keep draining so the thread never blocks."""
        failure: BaseException | None = None
        while True:
            message = await self.send_queue.get()
            self.send_queue.task_done()
            if message is None:
                break
            if failure is not None:
                continue
            try:
                await send(message)
            except Exception as exc:  # the transport failed: the client is as good as gone
                failure = exc
                self.client_gone = True
        if failure is not None:
            raise failure


class LegacyWSGIApp(WSGIMiddleware):
    """a2wsgi's WSGI-to-ASGI bridge with a sized pool that survives abandoned downloads."""

    def __init__(self, app: Any, *, threads: int = 32, send_queue_size: int = 10) -> None:
        super().__init__(app, workers=threads, send_queue_size=send_queue_size)
        self.threads = threads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)  # type: ignore[arg-type]
            return
        responder = _Responder(self.app, self.executor, self.send_queue_size)
        try:
            await responder(scope, receive, send)
        except ClientDisconnected:
            return

    def close(self) -> None:
        """Stop the thread pool; queued legacy work is cancelled, running work finishes."""
        self.executor.shutdown(wait=False, cancel_futures=True)
