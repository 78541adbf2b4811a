"""Serve the legacy WSGI app from the proxy's event loop through a2wsgi's thread pool.

:class:`LegacyWSGIApp` is a2wsgi's ``WSGIMiddleware`` (its sized thread pool, its WSGI environ and
request-body reader) with its own hand-over of the response from the pool thread to the event
loop, for two reasons:

- **Abandoned downloads.** a2wsgi's pool thread iterates the WSGI response and nothing tells it
  when the client goes away: uvicorn's ``send`` silently drops messages for a closed connection,
  so a slow streamed response keeps its thread until the generator runs dry (forever, for an
  endless stream), and a pool of N threads is exhausted by N abandoned downloads. Here, as soon
  as a response has handed over its first chunk without being complete (it streams) and the
  request body has been read, a watcher waits on ``receive()`` for ``http.disconnect``; from
  then on the thread's next hand-over raises :class:`ClientDisconnected`, which ends the WSGI
  loop and calls the iterable's ``close()`` (PEP 3333), freeing the thread at the next chunk
  boundary: a client that leaves after the first chunk costs the thread until the second is
  produced, never longer (a thread blocked on back-pressure is woken at once). A thread busy
  inside the application's own code cannot be interrupted from outside; that is the one wait
  left, the same a synchronous WSGI server has, which notices at its next write. ``disconnects``
  counts the abandoned responses seen (``on_disconnect`` is told of each, for a metric).
- **Cost per request.** a2wsgi blocks the thread on a round trip through the event loop for every
  message (start, each chunk, end). Here the thread posts messages without waiting (a semaphore
  bounds how many are in flight, which keeps back-pressure for slow clients), holds the start
  message back to send it with the first chunk, and marks the chunk that completes a declared
  ``Content-Length`` as the last one: an ordinary response is one hand-over instead of three
  round trips.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import sys
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from a2wsgi.wsgi import Body, WSGIMiddleware, build_environ

from proxy.errors import ClientDisconnected
from proxy.types import Message, Receive, Scope, Send

__all__ = ["ClientDisconnected", "LegacyWSGIApp"]


def _declares_body(scope: Scope) -> bool:
    """Whether the request says it has a body (a non-zero length, or chunked)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False


class _Exchange:
    """One legacy request: the WSGI app in a pool thread, its messages handed to the loop."""

    def __init__(
        self,
        app: Any,
        loop: asyncio.AbstractEventLoop,
        window: int,
        on_disconnect: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.loop = loop
        self._on_disconnect = on_disconnect
        # Written on the loop, read by the thread (and vice versa): single stores, GIL-atomic.
        self.client_gone = False
        self.body_read = False
        self.finished = False  # the last body message has been posted
        self._window = threading.Semaphore(window)
        self._window_size = window
        self._pending: deque[list[Message]] = deque()
        self._ready = asyncio.Event()
        self._start: Message | None = None
        self._started = False
        self._remaining: int | None = None  # bytes still due under a declared Content-Length
        self._chunks = 0
        self._early: Message | None = None
        self._watcher: asyncio.Task[None] | None = None

    # Event loop side -----------------------------------------------------------------------
    async def run(
        self, executor: ThreadPoolExecutor, scope: Scope, receive: Receive, send: Send
    ) -> None:
        self.body_read = not _declares_body(scope)

        async def tracking_receive() -> Message:
            early, self._early = self._early, None
            message = early if early is not None else await receive()
            if message["type"] == "http.disconnect":
                self.client_gone = True
            elif not message.get("more_body", False):
                self.body_read = True
                self._watch(receive)
            return message

        environ = build_environ(scope, Body(self.loop, tracking_receive))  # type: ignore[arg-type]
        # The ASGI body ends where the server's framing ends (Content-Length or the last chunk),
        # so the stream is terminated. Without this flag Werkzeug reads a body sent without
        # Content-Length (chunked) as empty, and its size limit never sees it (400, not 413).
        environ["wsgi.input_terminated"] = True  # type: ignore[typeddict-unknown-key]
        context = contextvars.copy_context()
        work = self.loop.run_in_executor(
            executor, functools.partial(context.run, self._wsgi, environ)
        )
        work.add_done_callback(lambda _: self._ready.set())
        failure: BaseException | None = None
        try:
            while True:
                while self._pending:
                    batch = self._pending.popleft()
                    for message in batch:
                        if failure is not None or self.client_gone:
                            continue
                        try:
                            await send(message)
                        except Exception as exc:  # the transport failed: the client is gone
                            failure = exc
                            self.client_gone = True
                    self._window.release()
                    if self._chunks:
                        self._watch(receive)
                if work.done() and not self._pending:
                    break
                self._ready.clear()
                if not self._pending and not work.done():
                    await self._ready.wait()
            await work
        except ClientDisconnected:
            return
        finally:
            if self._watcher is not None:
                self._watcher.cancel()
            if not work.done():
                # Cancelled while the app still runs: make its next hand-over fail instead
                # of waiting for a sender that is gone.
                self.client_gone = True
                self._window.release(self._window_size)
        if failure is not None:
            raise failure

    def _deliver(self, batch: list[Message]) -> None:
        self._pending.append(batch)
        self._ready.set()

    def _watch(self, receive: Receive) -> None:
        """Wait for ``http.disconnect`` from the first chunk of a streaming response on.

        Only once the request body is read (the app's reads own ``receive`` until then) and
        while the response is not complete (a whole response in one chunk needs no watch).
        """
        if self._watcher is None and self.body_read and self._chunks and not self.finished:
            self._watcher = self.loop.create_task(self._wait_for_disconnect(receive))

    async def _wait_for_disconnect(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.client_gone = True
                # A thread waiting for room to hand a chunk over wakes now and sees the client
                # gone, instead of waiting for the loop to drain messages nobody will read.
                self._window.release(self._window_size)
                if self._on_disconnect is not None and not self.finished:
                    self._on_disconnect()
                return
            # A bodiless request's empty body message: keep it for the app, should it ask.
            self._early = message

    # Pool thread side -------------------------------------------------------------------------
    def _post(self, batch: list[Message]) -> None:
        if self.client_gone:
            raise ClientDisconnected("client disconnected during the legacy response")
        self._window.acquire()
        if self.client_gone:
            raise ClientDisconnected("client disconnected during the legacy response")
        self.loop.call_soon_threadsafe(self._deliver, batch)

    def _start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        if exc_info is not None and self._started:
            raise exc_info[1].with_traceback(exc_info[2])  # PEP 3333: too late to change
        raw = [
            (name.strip().encode("latin-1").lower(), value.strip().encode("latin-1"))
            for name, value in headers
        ]
        self._remaining = None
        for name, value in raw:
            if name == b"content-length" and value.isdigit():
                self._remaining = int(value)
        self._start = {
            "type": "http.response.start",
            "status": int(status.split(" ", 1)[0]),
            "headers": raw,
        }
        return self._write

    def _write(self, chunk: bytes) -> None:
        if self.finished or not chunk:
            return
        more = True
        if self._remaining is not None:
            self._remaining -= len(chunk)
            more = self._remaining > 0
        self._chunks += 1
        self._flush({"type": "http.response.body", "body": chunk, "more_body": more})
        if not more:
            self.finished = True

    def _flush(self, message: Message) -> None:
        if not self._started:
            if self._start is None:
                raise RuntimeError("the WSGI app sent a body before calling start_response")
            self._started = True
            self._post([self._start, message])
        else:
            self._post([message])

    def _wsgi(self, environ: Any) -> None:
        iterable = self.app(environ, self._start_response)
        try:
            for chunk in iterable:
                self._write(chunk)
            if not self.finished:
                self.finished = True
                self._flush({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()


def _lower_priority(nice: int) -> None:
    """Add ``nice`` to the calling thread's niceness (Linux schedules threads one by one)."""
    if not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, current + nice))
    except OSError:  # a sandbox without the call: the pool runs at the process's priority
        return


class LegacyWSGIApp(WSGIMiddleware):
    """a2wsgi's WSGI-to-ASGI bridge: a sized pool, cheap hand-overs, no abandoned threads.

    ``nice`` lowers the scheduling priority of the pool's threads (Linux) below the event loop's.
    The loop runs the new app and every legacy request's I/O in one thread; at a saturated core
    the kernel shares it out per thread, so N busy legacy threads would otherwise leave the loop
    one share in N + 1.

    ``disconnects`` counts the streamed responses whose client left before the end (each also
    calls ``on_disconnect``, for a metric).
    """

    def __init__(
        self,
        app: Any,
        *,
        threads: int = 32,
        send_queue_size: int = 10,
        nice: int = 0,
        on_disconnect: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(app, workers=threads, send_queue_size=send_queue_size)
        self.threads = threads
        self.nice = nice
        self.disconnects = 0
        self._on_disconnect_hook = on_disconnect
        if nice:
            # a2wsgi's pool has started no thread yet: replace it by one whose threads lower
            # their own priority as they start.
            self.executor.shutdown(wait=False)
            self.executor = ThreadPoolExecutor(
                max_workers=threads,
                thread_name_prefix="WSGI",
                initializer=_lower_priority,
                initargs=(nice,),
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)  # type: ignore[arg-type]
            return
        exchange = _Exchange(
            self.app, asyncio.get_running_loop(), self.send_queue_size, self._disconnected
        )
        await exchange.run(self.executor, scope, receive, send)

    def _disconnected(self) -> None:
        self.disconnects += 1
        if self._on_disconnect_hook is not None:
            self._on_disconnect_hook()

    def close(self) -> None:
        """Stop the thread pool; queued legacy work is cancelled, running work finishes."""
        self.executor.shutdown(wait=False, cancel_futures=True)
