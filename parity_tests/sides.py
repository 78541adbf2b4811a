"""Send one ``httpx.Request`` to an implementation and capture the answer as the proxy sees it.

Three ways to reach a side: a WSGI app in-process (a PEP 3333 environ, as gunicorn would
build it), an ASGI app in-process on a background event loop (lifespan run, scope built as
uvicorn builds it, ``HEAD`` bodies dropped as a server drops them), and a live deployment over
HTTP. All return :class:`proxy.shadow.capture.CapturedResponse`, the type the comparator reads.
"""

from __future__ import annotations

import asyncio
import io
import sys
import threading
from collections.abc import Awaitable, Coroutine
from typing import Any, Protocol, TypeVar
from urllib.parse import unquote, unquote_to_bytes

import httpx

from proxy.shadow.capture import CapturedResponse, call_asgi
from proxy.types import ASGIApp, Message

__all__ = [
    "CLIENT_ADDRESS",
    "AsgiSide",
    "HttpSide",
    "LoopThread",
    "Side",
    "WsgiSide",
]

#: Both sides see the same peer address, as they do behind the proxy (login lockouts key on it).
CLIENT_ADDRESS = "127.0.0.1"
BODY_LIMIT = 64 * 1024 * 1024

T = TypeVar("T")


class Side(Protocol):
    """One implementation reachable for parity checks."""

    name: str

    def send(self, request: httpx.Request) -> CapturedResponse:
        """Send ``request`` and return the whole answer."""
        ...

    def close(self) -> None:
        """Release what the side holds."""
        ...


class WsgiSide:
    """A WSGI app called in-process with a PEP 3333 environ, as gunicorn builds it.

    (``httpx.WSGITransport`` puts the percent-decoded path into ``PATH_INFO`` as text, where
    WSGI wants the raw bytes decoded as latin-1; any non-ASCII path would then differ from
    what a real server delivers.)
    """

    def __init__(self, name: str, app: Any) -> None:
        self.name = name
        self.app = app

    def environ(self, request: httpx.Request, body: bytes) -> dict[str, Any]:
        """Build the WSGI environ a server would for ``request``."""
        url = request.url
        raw_path = url.raw_path.split(b"?", 1)[0]
        environ: dict[str, Any] = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": url.scheme,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            # gunicorn frames the body itself (Content-Length or chunked) and says so.
            "wsgi.input_terminated": True,
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(raw_path).decode("latin-1"),
            "QUERY_STRING": url.query.decode("latin-1"),
            "RAW_URI": url.raw_path.decode("latin-1"),
            "SERVER_NAME": url.host,
            "SERVER_PORT": str(url.port or (443 if url.scheme == "https" else 80)),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": CLIENT_ADDRESS,
            "REMOTE_PORT": "50000",
        }
        for raw_name, raw_value in request.headers.raw:
            name = raw_name.decode("latin-1").upper().replace("-", "_")
            value = raw_value.decode("latin-1")
            if name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                environ[name] = value
            else:
                key = f"HTTP_{name}"
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def send(self, request: httpx.Request) -> CapturedResponse:
        started: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            started[:] = [status, headers]
            return lambda data: chunks.append(data)

        chunks: list[bytes] = []
        result = self.app(self.environ(request, request.read()), start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = started
        return CapturedResponse(
            status=int(status.split(" ", 1)[0]),
            headers=[(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            body=b"".join(chunks),
        )

    def close(self) -> None:
        """Nothing to release: the app is called directly."""


class HttpSide:
    """A running deployment reached over HTTP (``proxy.cli.parity``)."""

    def __init__(self, name: str, base_url: str, *, timeout: float = 10.0) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)

    def send(self, request: httpx.Request) -> CapturedResponse:
        response = self._client.send(request)
        response.read()
        return CapturedResponse.from_httpx(response)

    def close(self) -> None:
        self._client.close()


class LoopThread:
    """An event loop running in a daemon thread, for calling ASGI apps from sync tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="parity-asgi", daemon=True
        )
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run a coroutine on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        """Stop the loop and its thread."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


async def _awaited(awaitable: Awaitable[None]) -> None:
    await awaitable


class _Lifespan:
    """Drive an ASGI app's lifespan protocol the way a server does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self._messages: asyncio.Queue[Message] = asyncio.Queue()
        self._started: asyncio.Future[None] | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def _receive(self) -> Message:
        return await self._messages.get()

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        target = self._started if kind.startswith("lifespan.startup") else self._stopped
        if target is None or target.done():
            return
        if kind.endswith(".complete"):
            target.set_result(None)
        else:
            target.set_exception(RuntimeError(f"{kind}: {message.get('message', '')}"))

    async def startup(self) -> None:
        loop = asyncio.get_running_loop()
        self._started, self._stopped = loop.create_future(), loop.create_future()
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        self._task = loop.create_task(_awaited(self.app(scope, self._receive, self._send)))
        await self._messages.put({"type": "lifespan.startup"})
        done, _ = await asyncio.wait(
            {self._started, self._task}, return_when=asyncio.FIRST_COMPLETED
        )
        if self._started in done:
            self._started.result()
            return
        self._task.result()  # the app does not speak lifespan, or crashed starting
        raise RuntimeError("the application returned during lifespan startup")

    async def shutdown(self) -> None:
        if self._task is None or self._task.done():
            return
        assert self._stopped is not None
        await self._messages.put({"type": "lifespan.shutdown"})
        await asyncio.wait({self._stopped, self._task}, timeout=10)
        if self._stopped.done():
            self._stopped.result()
        await asyncio.wait({self._task}, timeout=10)


class AsgiSide:
    """An ASGI app called in-process, with its lifespan run, the way uvicorn calls it."""

    def __init__(self, name: str, app: ASGIApp, loop: LoopThread) -> None:
        self.name = name
        self.app = app
        self._loop = loop
        self._lifespan = _Lifespan(app)
        loop.run(self._lifespan.startup())

    def scope(self, request: httpx.Request) -> dict[str, Any]:
        """Build the HTTP scope a server would for ``request``."""
        url = request.url
        raw_path = url.raw_path.split(b"?", 1)[0]
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme,
            "path": unquote(raw_path.decode("ascii")),
            "raw_path": raw_path,
            "query_string": url.query,
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "client": (CLIENT_ADDRESS, 50000),
            "server": (url.host, url.port or (443 if url.scheme == "https" else 80)),
            "state": dict(self._lifespan.state),
        }

    def send(self, request: httpx.Request) -> CapturedResponse:
        body = request.read()
        captured = self._loop.run(call_asgi(self.app, self.scope(request), body, limit=BODY_LIMIT))
        if request.method == "HEAD":
            # A server never sends a body in answer to HEAD, whatever the app wrote.
            return CapturedResponse(captured.status, captured.headers, b"", captured.truncated)
        return captured

    def close(self) -> None:
        self._loop.run(self._lifespan.shutdown())
