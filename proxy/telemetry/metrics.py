"""Count requests, latency, flag state and shadow outcomes in a registry owned by one proxy.

Each proxy instance has its own :class:`~prometheus_client.CollectorRegistry`, so tests (and two
proxies in one process) never share counters. Label children are cached per route and side: a
request costs two dict lookups, not a ``labels()`` call each.
"""

from __future__ import annotations

import gc
from collections import defaultdict

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from proxy.shadow.names import SHADOW_RESULTS

__all__ = ["CONTENT_TYPE", "SHADOW_RESULTS", "ProxyMetrics"]

_STATUS_CLASSES = ("0xx", "1xx", "2xx", "3xx", "4xx", "5xx")


class ProxyMetrics:
    """The proxy's Prometheus metrics."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests_total = Counter(
            "strangler_requests_total",
            "Requests answered by the proxy, by route key, serving side and status class.",
            ["route", "side", "status_class"],
            registry=self.registry,
        )
        self.request_duration = Histogram(
            "strangler_request_duration_seconds",
            "Time from the request reaching the proxy to the response completing.",
            ["route", "side"],
            registry=self.registry,
        )
        self.flag_version = Gauge(
            "strangler_flag_version",
            "Version of the flag table this worker routes by.",
            registry=self.registry,
        )
        self.flag_store_up = Gauge(
            "strangler_flag_store_up",
            "1 when the flag store answered the last time it was asked, else 0.",
            registry=self.registry,
        )
        self.flag_store_rejected_total = Counter(
            "strangler_flag_store_rejected_total",
            "Flag tables the watcher refused and did not route by: version_rewound (the "
            "version went backwards), store_replaced (another store id).",
            ["reason"],
            registry=self.registry,
        )
        for reason in ("version_rewound", "store_replaced"):  # exported at 0 from the start
            self.flag_store_rejected_total.labels(reason)
        self.flag_store_refusing = Gauge(
            "strangler_flag_store_refusing",
            "1 while the store's table is refused and the last good table is served, else 0.",
            registry=self.registry,
        )
        self.gc_frozen_objects = Gauge(
            "strangler_gc_frozen_objects",
            "Objects in the garbage collector's permanent generation (STRANGLER_GC_FREEZE).",
            registry=self.registry,
        )
        self.gc_frozen_objects.set_function(gc.get_freeze_count)
        self.shadow_total = Counter(
            "strangler_shadow_total",
            "Shadow comparisons by route key and result (match, mismatch, error, dropped).",
            ["route", "result"],
            registry=self.registry,
        )
        self.refused_total = Counter(
            "strangler_requests_refused_total",
            "Requests the proxy answered itself before any app: header_size (431), "
            "body_timeout (408).",
            ["reason"],
            registry=self.registry,
        )
        self.legacy_disconnects_total = Counter(
            "strangler_legacy_disconnects",
            "Streamed legacy responses whose client left before the end (the WSGI iterable is "
            "closed and its pool thread freed at the next chunk).",
            registry=self.registry,
        )
        self._counters: dict[tuple[str, str, int], object] = {}
        self._histograms: dict[tuple[str, str], object] = {}

    def observe_request(self, route: str, side: str, status: int, seconds: float) -> None:
        """Count one finished request and its duration."""
        status_class = status // 100 if 0 <= status < 600 else 0
        key = (route, side, status_class)
        counter = self._counters.get(key)
        if counter is None:
            counter = self.requests_total.labels(route, side, _STATUS_CLASSES[status_class])
            self._counters[key] = counter
        counter.inc()  # type: ignore[attr-defined]
        histogram = self._histograms.get((route, side))
        if histogram is None:
            histogram = self.request_duration.labels(route, side)
            self._histograms[(route, side)] = histogram
        histogram.observe(seconds)  # type: ignore[attr-defined]

    def record_refused(self, reason: str) -> None:
        """Count one request refused by the proxy's own limits (``header_size``...)."""
        self.refused_total.labels(reason).inc()

    def record_store_rejected(self, reason: str) -> None:
        """Count one flag table the watcher refused (``version_rewound``, ``store_replaced``)."""
        self.flag_store_rejected_total.labels(reason).inc()

    def record_shadow(self, route: str, result: str) -> None:
        """Count one shadow outcome: ``match``, ``mismatch``, ``error`` or ``dropped``."""
        self.shadow_total.labels(route, result).inc()

    def shadow_counts(self) -> dict[str, dict[str, int]]:
        """Return the shadow outcomes counted so far, per route."""
        counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SHADOW_RESULTS, 0))
        for family in self.shadow_total.collect():
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    route, result = sample.labels["route"], sample.labels["result"]
                    counts[route][result] = int(sample.value)
        return dict(counts)

    def exposition(self) -> bytes:
        """Return the registry in the Prometheus text format."""
        return generate_latest(self.registry)
