"""Hand sampled exchanges from the request path to a bounded background writer.

The dispatcher calls :meth:`TrafficRecorder.sample` once per request of a captured route (a
dict lookup and, below rate 1, one random draw) and, once the primary has answered and the
client has its response, :meth:`TrafficRecorder.submit` with the raw exchange. ``submit`` never
waits: it puts a small frozen object on a bounded queue, and when the queue is full it drops the
exchange and counts it (``strangler_capture_total{route,result="dropped"}``). Redaction,
JSON encoding and the store's write happen on one writer thread, which wakes at most once per
``linger`` seconds (50 ms) and writes what arrived, up to ``batch_size`` records, in one
transaction: the event loop pays for a queue put, not for I/O or a thread switch.

Outcomes counted in ``strangler_capture_total{route,result}``: ``stored``, ``dropped`` (queue
full), ``oversize`` (request body over the route's limit: not replayable, not kept), ``error``
(the record could not be built or the store refused it; logged, never raised to a request).
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client import Counter as PromCounter

from proxy.shadow.capture import CapturedResponse
from proxy.traffic.policy import CapturePolicy, RouteCapture
from proxy.traffic.records import Exchange, build_capture
from proxy.traffic.store import CaptureStore

__all__ = ["CAPTURE_RESULTS", "CachedRoles", "TrafficRecorder", "unverified_role"]

CAPTURE_RESULTS = ("stored", "dropped", "oversize", "error")
_STOP = object()

log = structlog.get_logger("proxy.traffic")


def unverified_role(token: str) -> str | None:
    """Read the ``role`` claim of a JWT without checking it (for a proxy with no verifier)."""
    import jwt

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    role = claims.get("role")
    return role if isinstance(role, str) else None


class CachedRoles:
    """Remember a token's role for ``ttl`` seconds: clients send one token for many requests.

    Verifying a JWT costs more than the rest of building a record; the writer thread asks for
    the same token again and again. At most ``size`` tokens are kept (the cache is emptied
    when full). A token that expires is still read as its role for up to ``ttl`` seconds; the
    captured answer (a 401) shows what the app made of it.
    """

    def __init__(
        self, role_of: Callable[[str], str | None], *, ttl: float = 30.0, size: int = 4096
    ) -> None:
        self._role_of = role_of
        self._ttl = ttl
        self._size = size
        self._known: dict[str, tuple[float, str | None]] = {}

    def __call__(self, token: str) -> str | None:
        now = time.monotonic()
        known = self._known.get(token)
        if known is not None and known[0] > now:
            return known[1]
        role = self._role_of(token)
        if len(self._known) >= self._size:
            self._known.clear()
        self._known[token] = (now + self._ttl, role)
        return role


class TrafficRecorder:
    """Sample, queue and store captured exchanges; one per proxy (worker)."""

    def __init__(
        self,
        policy: CapturePolicy,
        store: CaptureStore,
        *,
        queue_size: int = 1024,
        batch_size: int = 256,
        linger: float = 0.05,
        registry: CollectorRegistry | None = None,
        role_of: Callable[[str], str | None] = unverified_role,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if queue_size < 1 or batch_size < 1:
            raise ValueError("queue_size and batch_size must be >= 1")
        self.policy = policy
        self.store = store
        self.batch_size = batch_size
        self.linger = linger
        self.role_of = CachedRoles(role_of)
        self._rng = rng
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self.counts: Counter[str] = Counter()
        registry = registry if registry is not None else CollectorRegistry()
        self._total = PromCounter(
            "strangler_capture_total",
            "Captured exchanges by route key and result (stored, dropped, oversize, error).",
            ["route", "result"],
            registry=registry,
        )
        self._depth = Gauge(
            "strangler_capture_queue",
            "Captured exchanges waiting for the capture writer.",
            registry=registry,
        )
        self._depth.set_function(self._queue.qsize)
        self._children: dict[tuple[str, str], Any] = {}
        self._last_error_log = 0.0

    # Hot path ---------------------------------------------------------------------------------
    def sample(self, route: str | None) -> RouteCapture | None:
        """Return the route's capture settings when this request is to be captured, else None."""
        settings = self.policy.for_route(route)
        if settings is None or self._closed:
            return None
        if settings.sample_rate < 1.0 and self._rng() >= settings.sample_rate:
            return None
        return settings

    def submit(
        self,
        route: str,
        side: str,
        scope: dict[str, Any],
        headers: Sequence[tuple[bytes, bytes]],
        body: bytes,
        response: CapturedResponse,
        body_limit: int,
    ) -> bool:
        """Queue one exchange for storage; drop and count it when the writer is behind."""
        if self._closed:
            return False
        if self._thread is None:
            self.start()
        exchange = Exchange(
            time.time(),
            route,
            side,
            scope["method"],
            scope.get("raw_path") or scope["path"].encode("utf-8"),
            scope.get("query_string", b""),
            headers,
            body,
            response,
            body_limit,
        )
        try:
            self._queue.put_nowait(exchange)
        except queue.Full:
            self.count(route, "dropped")
            return False
        return True

    def count(self, route: str, result: str) -> None:
        """Count one outcome in the metrics and in :attr:`counts`."""
        self.counts[result] += 1
        child = self._children.get((route, result))
        if child is None:
            child = self._children[(route, result)] = self._total.labels(route, result)
        child.inc()

    # Writer -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer thread (idempotent; ``submit`` starts it when needed)."""
        with self._start_lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._write_loop, name="strangler-capture", daemon=True
                )
                self._thread.start()

    def _write_loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            if batch[0] is not _STOP and self.linger > 0:
                # Sleep rather than wait on the queue: puts meanwhile wake no thread, and one
                # transaction takes what arrived (a wake-up and a commit per request cost more
                # CPU than building the records).
                time.sleep(self.linger)
            while len(batch) < self.batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is _STOP for item in batch)
            try:
                self._write([item for item in batch if item is not _STOP])
            finally:
                for _ in batch:
                    self._queue.task_done()
            if stop:
                return

    def _write(self, batch: list[Exchange]) -> None:
        records, routes = [], []
        for exchange in batch:
            try:
                records.append(build_capture(exchange, self.role_of))
                routes.append(exchange.route)
            except Exception:
                log.exception("capture_record_failed", route=exchange.route)
                self.count(exchange.route, "error")
        if not records:
            return
        try:
            self.store.add_many(records)
        except Exception as exc:
            for route in routes:
                self.count(route, "error")
            now = time.monotonic()
            if now - self._last_error_log > 10.0:  # one line per outage, not one per batch
                self._last_error_log = now
                log.warning("capture_store_failed", error=str(exc), lost=len(records))
            return
        for route in routes:
            self.count(route, "stored")

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written; False on timeout (for tests, CLI)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop taking exchanges, write what is queued (up to ``timeout`` s), close the store."""
        self._closed = True
        thread = self._thread
        if thread is not None:
            try:
                self._queue.put(_STOP, timeout=timeout)
            except queue.Full:
                log.warning("capture_queue_not_drained", waiting=self._queue.qsize())
            thread.join(timeout)
        self.store.close()
