"""Hand sampled exchanges from the request path to a bounded background writer.

The dispatcher calls :meth:`TrafficRecorder.sample` once per request of a captured route (a
dict lookup and, below rate 1, one random draw) and, once the primary has answered and the
client has its response, :meth:`TrafficRecorder.submit` with the raw exchange. ``submit`` never
waits: it appends a tuple (references to the scope's bytes, no copy) to a bounded deque, and when
the deque is full it drops the exchange and counts it
(``strangler_capture_total{route,result="dropped"}``). Redaction, JSON encoding and the store's
write happen on one writer thread, which wakes at most once per ``linger`` seconds (50 ms) and
writes what arrived, up to ``batch_size`` records, in one transaction: the event loop pays for
a deque append (no lock, no wake-up unless the writer sleeps idle), not for I/O or a thread
switch. The writer builds each distinct exchange's record once
(:class:`~proxy.traffic.records.CaptureRows`) and the store keeps it once.

Outcomes counted in ``strangler_capture_total{route,result}``: ``stored``, ``dropped`` (queue
full), ``oversize`` (request body over the route's limit: not replayable, not kept), ``error``
(the record could not be built or the store refused it; logged, never raised to a request).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client import Counter as PromCounter

from proxy.shadow.capture import CapturedResponse, ResponseRecorder
from proxy.traffic.policy import CapturePolicy, RouteCapture
from proxy.traffic.records import CaptureRows, Exchange, PreparedCapture
from proxy.traffic.store import CaptureStore

__all__ = ["CAPTURE_RESULTS", "CachedRoles", "TrafficRecorder", "unverified_role"]

CAPTURE_RESULTS = ("stored", "dropped", "oversize", "error")
_IDLE_WAIT = 1.0  # seconds an idle writer sleeps before it looks again (submit wakes it sooner)

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


def _exchange(item: tuple[Any, ...], *, copy: bool = False) -> Exchange:
    """Return the Exchange a queued tuple stands for.

    A tee's recorder becomes its :class:`TeedResponse` (no copy: the writer keys and redacts
    the pairs as sent), or with ``copy`` its :class:`CapturedResponse` (names lower-cased,
    values made bytes: for headers that are not bytes).
    """
    response = item[8]
    if type(response) is not ResponseRecorder:
        return Exchange._make(item)
    kept = response.captured() if copy else response.teed()
    if kept is None:
        raise ValueError("the response was never started")
    return Exchange._make((*item[:8], kept, item[9]))


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
        # The policy is immutable: what sample() needs of it, looked up once per route.
        self._routes = {k: (v if v.enabled else None) for k, v in policy.routes.items()}
        self._default = policy.defaults if policy.defaults.enabled else None
        self.store = store
        self.batch_size = batch_size
        self.linger = linger
        self.role_of = CachedRoles(role_of)
        self.rows = CaptureRows(self.role_of)
        self._rng = rng
        self.queue_size = queue_size
        self._queue: deque[tuple[Any, ...]] = deque()
        self._idle = False  # the writer waits on _wake (only then does submit set it)
        self._busy = False  # the writer holds exchanges it took off the deque
        self._wake = threading.Event()
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
        self._depth.set_function(lambda: len(self._queue))
        self._children: dict[tuple[str, str], Any] = {}
        self._last_error_log = 0.0

    # Hot path ---------------------------------------------------------------------------------
    def sample(self, route: str | None) -> RouteCapture | None:
        """Return the route's capture settings when this request is to be captured, else None."""
        if route is None:
            return None
        settings = self._routes.get(route, self._default)
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
        response: CapturedResponse | ResponseRecorder,
        body_limit: int,
    ) -> bool:
        """Queue one exchange for storage; drop and count it when the writer is behind.

        ``scope`` is read now (method, path, query) and not kept; ``headers``, ``body`` and
        ``response`` are kept as given until the writer takes them: a recorder whose response
        has finished, a header list nobody changes any more (the dispatcher's copy).
        """
        if self._closed:
            return False
        if self._thread is None:
            self.start()
        queued = self._queue
        if len(queued) >= self.queue_size:
            self.count(route, "dropped")
            return False
        # A plain tuple of references (Exchange's fields, in order): the writer makes the
        # Exchange, and the response's copy when ``response`` is the tee's recorder.
        queued.append(
            (
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
        )
        if self._idle:
            self._wake.set()
        return True

    def count(self, route: str, result: str, n: int = 1) -> None:
        """Count ``n`` outcomes in the metrics and in :attr:`counts`."""
        self.counts[result] += n
        child = self._children.get((route, result))
        if child is None:
            child = self._children[(route, result)] = self._total.labels(route, result)
        child.inc(n)

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
        queued = self._queue
        while True:
            if not queued:
                if self._closed:
                    return
                self._idle = True
                if not queued and not self._closed:  # a submit after this line sets _wake
                    self._wake.wait(_IDLE_WAIT)
                self._wake.clear()
                self._idle = False
                continue
            if self.linger > 0 and not self._closed:
                # Sleep rather than wait: appends meanwhile wake no thread, and one transaction
                # takes what arrived (a wake-up and a commit per request cost more CPU than
                # building the records).
                time.sleep(self.linger)
            self.write_pending()

    def write_pending(self) -> int:
        """Write up to ``batch_size`` queued exchanges now; return how many were taken."""
        queued = self._queue
        self._busy = True
        try:
            batch = []
            for _ in range(min(self.batch_size, len(queued))):
                batch.append(queued.popleft())
            self._write(batch)
        finally:
            self._busy = False
        return len(batch)

    def _write(self, batch: list[tuple[Any, ...]]) -> None:
        records: list[PreparedCapture | dict[str, Any]] = []
        routes: Counter[str] = Counter()
        prepare = self.rows.prepare
        for item in batch:
            try:
                try:
                    record = prepare(_exchange(item))
                except TypeError:  # a header that is no bytes (unhashable): the copy is
                    if type(item[8]) is not ResponseRecorder:
                        raise
                    record = prepare(_exchange(item, copy=True))
                records.append(record)
                routes[item[1]] += 1
            except Exception:
                log.exception("capture_record_failed", route=item[1])
                self.count(item[1], "error")
        if not records:
            return
        try:
            self.store.add_many(records)
        except Exception as exc:
            for route, n in routes.items():
                self.count(route, "error", n)
            now = time.monotonic()
            if now - self._last_error_log > 10.0:  # one line per outage, not one per batch
                self._last_error_log = now
                log.warning("capture_store_failed", error=str(exc), lost=len(records))
            return
        for route, n in routes.items():
            self.count(route, "stored", n)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written; False on timeout (for tests, CLI)."""
        deadline = time.monotonic() + timeout
        while self._queue or self._busy:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop taking exchanges, write what is queued (up to ``timeout`` s), close the store."""
        self._closed = True
        thread = self._thread
        if thread is not None:
            self._wake.set()
            if thread is not threading.current_thread():
                thread.join(timeout)
            if thread.is_alive() and self._queue:
                log.warning("capture_queue_not_drained", waiting=len(self._queue))
        self.store.close()
