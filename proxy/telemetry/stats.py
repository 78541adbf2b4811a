"""Keep a rolling window of request counts, errors and latency per route and side.

This is what ``/_strangler/stats`` shows the operator deciding whether a flip went well: the last
minute on each side of each route. It is per worker process and in memory. Each series is a ring
of one-second slots; each slot keeps a count, an error count (status >= 500) and a latency
histogram on log-spaced bounds, so recording is O(1) and the 95th percentile is read from merged
histograms (accurate to one bucket, about 20 %).
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable
from typing import Any

__all__ = ["LATENCY_BOUNDS_MS", "RollingStats"]

# 0.05 ms .. ~2 min, each bound 1.2x the one before.
LATENCY_BOUNDS_MS: tuple[float, ...] = tuple(0.05 * 1.2**i for i in range(81))
_BINS = len(LATENCY_BOUNDS_MS) + 1


class _Series:
    """One route and side: a ring of per-second slots."""

    __slots__ = ("bins", "counts", "errors", "seconds")

    def __init__(self, window: int) -> None:
        self.seconds = [-1] * window
        self.counts = [0] * window
        self.errors = [0] * window
        self.bins: list[list[int] | None] = [None] * window

    def add(self, second: int, index: int, duration_ms: float, error: bool) -> None:
        if self.seconds[index] != second:
            self.seconds[index] = second
            self.counts[index] = 0
            self.errors[index] = 0
            self.bins[index] = None
        self.counts[index] += 1
        if error:
            self.errors[index] += 1
        slot = self.bins[index]
        if slot is None:
            slot = self.bins[index] = [0] * _BINS
        slot[bisect.bisect_left(LATENCY_BOUNDS_MS, duration_ms)] += 1

    def summary(self, oldest: int, span: float) -> dict[str, Any] | None:
        requests = errors = 0
        merged = [0] * _BINS
        for index, second in enumerate(self.seconds):
            if second < oldest:
                continue
            requests += self.counts[index]
            errors += self.errors[index]
            slot = self.bins[index]
            if slot is not None:
                for position, value in enumerate(slot):
                    if value:
                        merged[position] += value
        if not requests:
            return None
        return {
            "requests": requests,
            "rps": round(requests / span, 3),
            "p95_ms": _percentile(merged, requests, 0.95),
            "error_rate": round(errors / requests, 4),
        }


def _percentile(bins: list[int], total: int, fraction: float) -> float:
    """Return the upper bound (ms) of the bin holding the given fraction of observations."""
    target = math.ceil(total * fraction)
    seen = 0
    for position, value in enumerate(bins):
        seen += value
        if seen >= target:
            bound = LATENCY_BOUNDS_MS[min(position, len(LATENCY_BOUNDS_MS) - 1)]
            return round(bound, 3)
    return round(LATENCY_BOUNDS_MS[-1], 3)


class RollingStats:
    """Per-route, per-side request statistics over the last ``window`` seconds."""

    def __init__(self, window: int = 60, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._started = clock()
        self._series: dict[tuple[str, str], _Series] = {}

    def record(self, route: str, side: str, status: int, duration_ms: float) -> None:
        """Add one finished request."""
        series = self._series.get((route, side))
        if series is None:
            series = self._series[(route, side)] = _Series(self.window)
        second = int(self._clock())
        series.add(second, second % self.window, duration_ms, status >= 500)

    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Return ``{route: {side: {requests, rps, p95_ms, error_rate}}}`` for the window."""
        now = self._clock()
        second = int(now)
        oldest = second - self.window + 1
        span = max(1.0, min(float(self.window), now - self._started))
        routes: dict[str, dict[str, dict[str, Any]]] = {}
        for (route, side), series in sorted(self._series.items()):
            summary = series.summary(oldest, span)
            if summary is not None:
                routes.setdefault(route, {})[side] = summary
        return routes
