"""Per-route concurrency limits (bulkheads): one slow route never takes every legacy thread.

Every legacy request runs in one thread of a sized pool (``STRANGLER_LEGACY_THREADS``). Without
a limit, a route whose backend is slow (a TWS call that hangs) fills the pool with waiting
threads, and every other legacy route queues behind it. A :class:`Compartment` per route and
side bounds how many of the route's requests are inside the app at once:

* under the limit, a request enters at once (a counter, no await);
* over it, the request waits in the route's queue, first come first served, for at most
  ``wait`` seconds: a burst above the limit on a route that answers quickly is absorbed, not
  refused (the pool is used, as it would be without bulkheads);
* with ``queue`` requests already waiting, or once its wait runs out, the request is answered
  ``503`` (``application/problem+json``, ``Retry-After``) by the proxy, and never reaches the
  app; the route's rejection counter says why (``queue_full`` or ``wait_timeout``).

The default legacy limit is the pool minus a reserve (``ProxySettings.legacy_route_limit``: 24
of 32 threads), so however slow one route is, the other routes keep the reserve. The reserve
is per route, not shared: two slow routes together can still take the pool. The new side has
no limit unless configured (an async app is not bounded by a pool); the same compartments
serve it. WebSockets are not limited. Rejections are logged at most once per route and side
every :data:`LOG_INTERVAL` seconds, with the count since the last line.

Metrics (in the proxy's registry): ``strangler_bulkhead_rejected_total{route,side,reason}``,
``strangler_bulkhead_in_flight{route,side}``, ``strangler_bulkhead_waiting{route,side}`` and
``strangler_bulkhead_limit{route,side}``, from a route's first request on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from proxy.errors import BulkheadConfigError
from proxy.inventory import LEGACY, NEW
from proxy.problems import json_bytes
from proxy.routing.requestid import REQUEST_ID_HEADER, ensure_request_id
from proxy.settings import ProxySettings
from proxy.types import Headers, Scope, Send

__all__ = ["REJECT_REASONS", "BulkheadConfigError", "Bulkheads", "Compartment"]

log = structlog.get_logger("proxy.routing.bulkhead")

REJECT_REASONS = ("queue_full", "wait_timeout")
LOG_INTERVAL = 10.0


class Compartment:
    """The concurrency limit of one route on one side, with its bounded wait queue."""

    __slots__ = ("_waiters", "in_flight", "limit", "queue", "rejected", "route", "side", "wait")

    def __init__(self, route: str, side: str, *, limit: int, queue: int, wait: float) -> None:
        self.route = route
        self.side = side
        self.limit = limit
        self.queue = queue
        self.wait = wait
        self.in_flight = 0
        self.rejected = dict.fromkeys(REJECT_REASONS, 0)
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """Requests waiting for a place now."""
        return len(self._waiters)

    def try_enter(self) -> bool:
        """Take a place if one is free and nobody waits before us (no await: the hot path)."""
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return True
        return False

    async def enter(self) -> str | None:
        """Wait for a place; return ``None`` once inside, else why not (a reject reason)."""
        if self.try_enter():
            return None
        if len(self._waiters) >= self.queue or self.wait <= 0:
            return self._reject("queue_full")
        place: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(place)
        try:
            async with asyncio.timeout(self.wait):
                await place
        except TimeoutError:
            if place.done() and not place.cancelled():
                return None  # handed a place as the wait ran out: it is ours
            self._forget(place)
            return self._reject("wait_timeout")
        except BaseException:  # cancelled while waiting: give back a place handed to us
            if place.done() and not place.cancelled():
                self.leave()
            else:
                self._forget(place)
            raise
        return None

    def leave(self) -> None:
        """Give the place back: to the first waiter, else to the pool."""
        waiters = self._waiters
        while waiters:
            place = waiters.popleft()
            if not place.done():
                place.set_result(None)  # the place passes on: in_flight is unchanged
                return
        self.in_flight -= 1

    def _forget(self, place: asyncio.Future[None]) -> None:
        place.cancel()
        with contextlib.suppress(ValueError):  # already handed on and popped
            self._waiters.remove(place)

    def _reject(self, reason: str) -> str:
        self.rejected[reason] += 1
        return reason

    def __repr__(self) -> str:
        return (
            f"Compartment({self.route!r}, {self.side}, {self.in_flight}/{self.limit}, "
            f"waiting={self.waiting})"
        )


class Bulkheads:
    """The compartments of every route and side, created at a route's first request.

    ``limits`` is each side's default limit (0: none) and ``routes`` a route's own, per side.
    """

    def __init__(
        self,
        limits: Mapping[str, int],
        *,
        routes: Mapping[str, Mapping[str, int]] | None = None,
        queue: int,
        wait: float,
        retry_after: int = 1,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = dict(limits)
        self.routes = {side: dict(values) for side, values in (routes or {}).items()}
        self.queue = queue
        self.wait = wait
        self.retry_after = retry_after
        self._clock = clock
        self._compartments: dict[tuple[str, str], Compartment | None] = {}
        self._logged: dict[tuple[str, str], tuple[float, dict[str, int]]] = {}
        registry = registry if registry is not None else CollectorRegistry()
        self.rejected_total = Counter(
            "strangler_bulkhead_rejected",
            "Requests answered 503 because their route's bulkhead was full, by route key, side "
            "and reason (queue_full: too many waiting; wait_timeout: no place in time).",
            ["route", "side", "reason"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "strangler_bulkhead_in_flight",
            "Requests of a route inside its side's app now (bulkheaded routes).",
            ["route", "side"],
            registry=registry,
        )
        self.waiting = Gauge(
            "strangler_bulkhead_waiting",
            "Requests of a route waiting for a place in its bulkhead now.",
            ["route", "side"],
            registry=registry,
        )
        self.limit = Gauge(
            "strangler_bulkhead_limit",
            "The concurrency limit of a route on a side.",
            ["route", "side"],
            registry=registry,
        )
        self._counters: dict[tuple[str, str, str], Counter] = {}

    @classmethod
    def from_settings(
        cls,
        settings: ProxySettings,
        *,
        known_routes: Iterable[str] = (),
        registry: CollectorRegistry | None = None,
    ) -> Bulkheads | None:
        """Build the bulkheads the settings ask for; ``None`` when they are off.

        Raises :class:`BulkheadConfigError` when a per-route limit names a route that is not
        in ``known_routes`` (when given): a typo would otherwise leave a route unprotected.
        """
        if not settings.bulkhead:
            return None
        routes = {LEGACY: settings.bulkhead_legacy_routes, NEW: settings.bulkhead_new_routes}
        known = set(known_routes)
        if known:
            for side, values in routes.items():
                unknown = sorted(set(values) - known)
                if unknown:
                    variable = f"STRANGLER_BULKHEAD_{side.upper()}_ROUTES"
                    raise BulkheadConfigError(
                        f"{variable} names routes neither app serves: {', '.join(unknown)}"
                    )
        return cls(
            {LEGACY: settings.legacy_route_limit, NEW: settings.bulkhead_new_limit},
            routes=routes,
            queue=settings.bulkhead_queue_size,
            wait=settings.bulkhead_wait,
            retry_after=settings.bulkhead_retry_after,
            registry=registry,
        )

    def compartment(self, side: str, route: str) -> Compartment | None:
        """The compartment of ``route`` on ``side`` (``None``: that route is not limited)."""
        key = (side, route)
        try:
            return self._compartments[key]
        except KeyError:
            pass
        limit = self.routes.get(side, {}).get(route, self.limits.get(side, 0))
        compartment = None
        if limit > 0:
            compartment = Compartment(route, side, limit=limit, queue=self.queue, wait=self.wait)
            self._export(compartment)
        self._compartments[key] = compartment
        return compartment

    def compartments(self) -> list[Compartment]:
        """The compartments created so far (routes that have had a request)."""
        return [c for c in self._compartments.values() if c is not None]

    def _export(self, compartment: Compartment) -> None:
        route, side = compartment.route, compartment.side
        self.in_flight.labels(route, side).set_function(lambda: compartment.in_flight)
        self.waiting.labels(route, side).set_function(lambda: compartment.waiting)
        self.limit.labels(route, side).set(compartment.limit)
        for reason in REJECT_REASONS:  # exported at 0 from the route's first request
            self._counters[(route, side, reason)] = self.rejected_total.labels(route, side, reason)

    def rejected(self, compartment: Compartment, reason: str) -> None:
        """Count one rejection, and log it (at most one line per route every LOG_INTERVAL s)."""
        route, side = compartment.route, compartment.side
        self._counters[(route, side, reason)].inc()
        key = (route, side)
        now = self._clock()
        last = self._logged.get(key)
        if last is not None and now - last[0] < LOG_INTERVAL:
            return
        since = last[1] if last is not None else dict.fromkeys(REJECT_REASONS, 0)
        counts = {r: compartment.rejected[r] - since[r] for r in REJECT_REASONS}
        self._logged[key] = (now, dict(compartment.rejected))
        log.warning(
            "bulkhead_full",
            route=route,
            side=side,
            limit=compartment.limit,
            in_flight=compartment.in_flight,
            waiting=compartment.waiting,
            rejected=counts,
        )

    async def refuse(
        self, compartment: Compartment, scope: Scope, send: Send, extra: Headers
    ) -> None:
        """Answer ``503`` problem+json with ``Retry-After`` for a request of a full route."""
        request_id = ensure_request_id(scope)
        route, side = compartment.route, compartment.side
        body = json_bytes(
            {
                "type": "urn:resync:problem:unavailable",
                "title": "Service unavailable",
                "status": 503,
                "detail": (
                    f"The route {route} is at its limit of {compartment.limit} concurrent "
                    f"requests on the {side} side; try again shortly."
                ),
                "instance": scope.get("path", ""),
                "request_id": request_id.decode("ascii"),
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode("ascii")),
                    (b"retry-after", str(self.retry_after).encode("ascii")),
                    (REQUEST_ID_HEADER, request_id),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})
