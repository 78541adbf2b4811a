"""Send each request to the side its route's flag names, untouched, and tee it when shadowed.

The dispatcher is a pure ASGI app on the hot path. Per request it does one table match, one
decision (precomputed unless the route is a canary or a shadow), one pass over the request
headers (request id, dry-run header) and one ``send`` wrapper that appends the two precomputed
``X-Served-By`` / ``X-Route`` headers to the response start. Everything else — status, repeated
headers, cookies, query string, request and response bodies, streaming in both directions — is
the apps' own, passed through as ASGI messages.

Shadowed requests additionally buffer the request body (up to ``shadow_body_limit``; a larger
body is streamed to the primary and not shadowed) and keep a bounded copy of the primary's
response while it streams to the client; once the primary is done, a :class:`ShadowJob` goes to
the shadow runner, which decides (without waiting) whether to run the candidate.

Bulkheads (``routing.bulkhead``) bound each route's requests inside the side that serves it: under
the limit a request goes in at once (a counter), over it the request waits a bounded time in a
bounded queue, and is answered 503 by the proxy when neither frees a place.

Captured requests (``proxy.traffic``: a capture policy names the route and the sample picked
this request) are teed the same way, bounded by the route's capture body limit, and the
exchange goes to the capture recorder's queue after the primary is done.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from structlog.contextvars import bind_contextvars, reset_contextvars

from proxy.inventory import LEGACY, NEW
from proxy.modes import SAFE_METHODS
from proxy.routing.bulkhead import Bulkheads
from proxy.routing.decide import LEGACY_ONLY, NEW_ONLY, Decision
from proxy.routing.requestid import ensure_request_id
from proxy.routing.table import RouteEntry, RouteTable
from proxy.shadow.capture import ResponseRecorder
from proxy.shadow.names import DROPPED
from proxy.shadow.runner import ShadowJob
from proxy.telemetry.accesslog import AccessLog
from proxy.telemetry.metrics import ProxyMetrics
from proxy.telemetry.stats import RollingStats
from proxy.types import ASGIApp, Message, Receive, Scope, Send

# The scope key proxy.routing.override sets (kept literal here: the hot path imports nothing more).
FORCED_SIDE = "strangler.side"

__all__ = ["Dispatcher"]


class Dispatcher:
    """Route HTTP and WebSocket traffic between the legacy and the new app.

    ``table`` is replaced (one assignment) whenever the flag table changes; a request reads it
    once, at its start. ``bulkheads`` (:mod:`proxy.routing.bulkhead`), when given, bounds how many
    requests of a route are inside the side that serves it; a request it refuses is answered
    503 by the proxy and counted with that side and status.
    """

    def __init__(
        self,
        legacy_app: ASGIApp,
        new_app: ASGIApp,
        table: RouteTable,
        *,
        metrics: ProxyMetrics,
        stats: RollingStats,
        access_log: AccessLog,
        shadow_runner: Any = None,
        shadow_body_limit: int = 1024 * 1024,
        capture: Any = None,
        bulkheads: Bulkheads | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.apps: dict[str, ASGIApp] = {LEGACY: legacy_app, NEW: new_app}
        self.table = table
        self.metrics = metrics
        self.stats = stats
        self.access_log = access_log
        self.shadow_runner = shadow_runner
        self.shadow_body_limit = shadow_body_limit
        self.capture = capture
        self.bulkheads = bulkheads
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            raise RuntimeError(f"the dispatcher does not handle {kind!r} scopes")

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch one HTTP request (the hot path)."""
        started = self._clock()
        entry = self.table.match(scope["method"], scope["path"])
        decision = entry.decide(scope)
        forced = scope.get(FORCED_SIDE)  # a verified tester's choice (proxy.routing.override)
        if forced is not None:
            decision = LEGACY_ONLY if forced == LEGACY else NEW_ONLY
        request_id = ensure_request_id(scope).decode("ascii")
        tokens = bind_contextvars(request_id=request_id)
        side = decision.primary
        bulkheads = self.bulkheads
        if bulkheads is None:
            await self._serve(scope, receive, send, entry, decision, started, request_id, tokens)
            return
        compartment = bulkheads.compartment(side, entry.label)
        if compartment is None:
            await self._serve(scope, receive, send, entry, decision, started, request_id, tokens)
            return
        if not compartment.try_enter():
            refused = await compartment.enter()
            if refused is not None:
                try:
                    bulkheads.rejected(compartment, refused)
                    route_header = [h for h in entry.headers[side] if h[0] == b"x-route"]
                    await bulkheads.refuse(compartment, scope, send, route_header)
                finally:
                    self._finish(scope, entry, side, 503, started, request_id, None)
                    reset_contextvars(**tokens)
                return
        try:
            await self._serve(scope, receive, send, entry, decision, started, request_id, tokens)
        finally:
            compartment.leave()

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        entry: RouteEntry,
        decision: Decision,
        started: float,
        request_id: str,
        tokens: Any,
    ) -> None:
        """Serve a request that may go in (its bulkhead, if any, has let it)."""
        capture = self.capture.sample(entry.key) if self.capture is not None else None
        shadow = decision.shadow
        if shadow is not None and self._admit_shadow(scope, entry):
            # Admitted first (sampled, eligible, a slot free), copied only then.
            side = decision.primary
            status = 500
            try:
                status = await self._shadowed(scope, receive, send, entry, decision, capture)
            finally:
                self._finish(scope, entry, side, status, started, request_id, shadow)
                reset_contextvars(**tokens)
            return
        if capture is not None:
            side = decision.primary
            status = 500
            try:
                status = await self._captured(scope, receive, send, entry, side, capture)
            finally:
                self._finish(scope, entry, side, status, started, request_id, shadow)
                reset_contextvars(**tokens)
            return

        side = decision.primary
        extra = entry.headers[side]
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if extra:
                    message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        try:
            await self.apps[side](scope, receive, send_with_headers)
        except BaseException:
            status = status or 500
            raise
        finally:
            self._finish(scope, entry, side, status, started, request_id, shadow)
            reset_contextvars(**tokens)

    def _admit_shadow(self, scope: Scope, entry: RouteEntry) -> bool:
        """Ask the runner before anything is copied; True reserves one of its slots."""
        runner = self.shadow_runner
        if runner is None or entry.key is None:
            return False
        dry_run = entry.flag.dry_run and scope["method"] not in SAFE_METHODS
        return bool(runner.admit(entry.key, scope["method"], dry_run))

    async def _shadowed(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        entry: RouteEntry,
        decision: Decision,
        capture: Any = None,
    ) -> int:
        """Serve from the primary with a tee, then hand the exchange to the shadow runner.

        The runner has admitted the request (a slot is reserved): every way out either submits
        the job into that slot or releases it.
        """
        side = decision.primary
        submitted = False
        try:
            shadow_scope = dict(scope)
            shadow_scope["headers"] = list(scope["headers"])
            body, complete, replay = await _buffer_body(receive, self.shadow_body_limit)
            status, recorder = await self._serve_teed(
                scope, replay, send, entry, side, self.shadow_body_limit
            )
            captured = recorder.captured()
            if capture is not None and captured is not None and entry.key is not None:
                self._offer_capture(
                    entry.key, side, shadow_scope, shadow_scope["headers"], body, complete,
                    captured, capture,
                )  # fmt: skip
            if not complete or captured is None or entry.key is None:
                self.metrics.record_shadow(entry.label, DROPPED)
                return status
            shadow_side = decision.shadow
            assert shadow_side is not None
            safe = scope["method"] in SAFE_METHODS
            submitted = self.shadow_runner.submit(
                ShadowJob(
                    route=entry.key,
                    candidate_app=self.apps[shadow_side],
                    candidate_side=shadow_side,
                    scope=shadow_scope,
                    body=body,
                    primary=captured,
                    dry_run=entry.flag.dry_run and not safe,
                    # A safe request may be asked of the primary again, to learn its own noise.
                    primary_app=self.apps[side] if safe else None,
                ),
                admitted=True,
            )
            return status
        finally:
            if not submitted:
                self.shadow_runner.release()

    async def _captured(
        self, scope: Scope, receive: Receive, send: Send, entry: RouteEntry, side: str, capture: Any
    ) -> int:
        """Serve from the primary with a tee bounded by the route's capture limit; queue a copy.

        The request path keeps references only (the header list copied as shadow copies it,
        the body as read, the tee's recorder); the capture writer builds the response's copy
        (``ResponseRecorder.captured``) and everything else off the event loop.
        """
        headers = list(scope["headers"])
        body, complete, replay = await _buffer_body(receive, capture.body_limit)
        status, recorder = await self._serve_teed(
            scope, replay, send, entry, side, capture.body_limit
        )
        if recorder.started and entry.key is not None:
            self._offer_capture(entry.key, side, scope, headers, body, complete, recorder, capture)
        return status

    async def _serve_teed(
        self, scope: Scope, replay: Receive, send: Send, entry: RouteEntry, side: str, limit: int
    ) -> tuple[int, ResponseRecorder]:
        """Serve from ``side`` while keeping a copy of the response up to ``limit`` bytes."""
        recorder = ResponseRecorder(limit)
        extra = entry.headers[side]
        status = 0

        async def send_teed(message: Message) -> None:
            nonlocal status
            recorder.record(message)
            if message["type"] == "http.response.start":
                status = message["status"]
                if extra:
                    message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        try:
            await self.apps[side](scope, replay, send_teed)
        except BaseException:
            status = status or 500
            raise
        return status, recorder

    def _offer_capture(
        self,
        route: str,
        side: str,
        scope: Scope,
        headers: Any,
        body: bytes,
        complete: bool,
        response: Any,
        capture: Any,
    ) -> None:
        """Queue the exchange, or count it ``oversize`` when its request body was cut."""
        if not complete or len(body) > capture.body_limit:
            self.capture.count(route, "oversize")
            return
        self.capture.submit(route, side, scope, headers, body, response, capture.body_limit)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = self._clock()
        entry = self.table.match_websocket(scope["path"])
        side = entry.decide(scope).primary
        request_id = ensure_request_id(scope).decode("ascii")
        tokens = bind_contextvars(request_id=request_id)
        extra = entry.headers[side]
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind == "websocket.accept":
                status = 101
                if extra:
                    message["headers"] = [*message.get("headers", ()), *extra]
            elif kind == "websocket.close" and not status:
                status = 403
            await send(message)

        try:
            await self.apps[side](scope, receive, send_with_headers)
        finally:
            self._finish(scope, entry, side, status, started, request_id, None)
            reset_contextvars(**tokens)

    def _finish(
        self,
        scope: Scope,
        entry: RouteEntry,
        side: str,
        status: int,
        started: float,
        request_id: str,
        shadow: str | None,
    ) -> None:
        seconds = self._clock() - started
        self.metrics.observe_request(entry.label, side, status, seconds)
        duration_ms = round(seconds * 1000, 3)
        self.stats.record(entry.label, side, status, duration_ms)
        self.access_log.request(
            request_id=request_id,
            method=scope.get("method", "GET"),
            path=scope["path"],
            route=entry.key,
            side=side,
            status=status,
            duration_ms=duration_ms,
            shadow=shadow,
        )


async def _buffer_body(receive: Receive, limit: int) -> tuple[bytes, bool, Receive]:
    """Read the request body up to ``limit`` bytes and return a ``receive`` that replays it.

    Returns ``(body, complete, replay)``; ``complete`` is false when the body was longer than the
    limit (or the client left), in which case ``replay`` hands the primary what was read and then
    continues from the real ``receive``.
    """
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body", False):
        # The whole body in one message (every GET): hand that message on as it came.
        first: Message | None = message

        async def replay_one() -> Message:
            nonlocal first
            if first is not None:
                given, first = first, None
                return given
            return await receive()

        return message.get("body", b""), True, replay_one
    chunks: list[bytes] = []
    size = 0
    complete = False
    pending: list[Message] = []
    while True:
        if message["type"] != "http.request":
            pending.append(message)
            break
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            complete = True
            break
        if size > limit:
            break
        message = await receive()
    body = b"".join(chunks)
    more = not complete and not pending
    queued: list[Message] = [{"type": "http.request", "body": body, "more_body": more}, *pending]

    async def replay() -> Message:
        if queued:
            return queued.pop(0)
        return await receive()

    return body, complete, replay
