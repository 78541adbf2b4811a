"""Measure what a step is judged on, per worker, in a form every worker can add up.

Each worker sees only its own traffic. So each worker keeps *cumulative* counters per route and
side (requests, 5xx answers, a latency histogram on
:data:`proxy.telemetry.stats.LATENCY_BOUNDS_MS`) and its cumulative shadow outcomes (from the
metrics), and publishes them to the flag store under its own worker id every evaluation
interval (:meth:`~proxy.rollout.storage.RolloutStore.publish`).
The worker that holds the autopilot lease reads every worker's counters; when a step starts it
keeps them as the step's *baseline*, and a step's window is the sum over workers of "now minus
baseline". Cumulative counters make this robust: a lost publish only delays figures, a worker
that starts mid-step has no baseline (all its traffic is the step's), and a restarted worker comes
back under a new id rather than resetting an old one.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from proxy.inventory import LEGACY, NEW
from proxy.shadow.names import SHADOW_RESULTS
from proxy.telemetry.stats import LATENCY_BOUNDS_MS, RollingStats

__all__ = [
    "MeasuredStats",
    "ShadowWindow",
    "SideWindow",
    "Window",
    "percentile_of_bins",
    "route_payload",
    "window_between",
]


def percentile_of_bins(bins: Mapping[int, int], total: int, fraction: float) -> float:
    """Return the upper bound (ms) of the bin holding ``fraction`` of ``total`` observations."""
    target = math.ceil(total * fraction)
    seen = 0
    last = len(LATENCY_BOUNDS_MS) - 1
    for position in sorted(bins):
        seen += bins[position]
        if seen >= target:
            return round(LATENCY_BOUNDS_MS[min(position, last)], 3)
    return round(LATENCY_BOUNDS_MS[last], 3)


class MeasuredStats(RollingStats):
    """The rolling per-worker stats, plus cumulative counters the autopilot can publish."""

    def __init__(self, window: int = 60, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(window, clock=clock)
        # (route, side) -> [requests, errors, {bin: count}]
        self._totals: dict[tuple[str, str], list[Any]] = {}

    def record(self, route: str, side: str, status: int, duration_ms: float) -> None:
        super().record(route, side, status, duration_ms)
        total = self._totals.get((route, side))
        if total is None:
            total = self._totals[(route, side)] = [0, 0, {}]
        total[0] += 1
        if status >= 500:
            total[1] += 1
        bins: dict[int, int] = total[2]
        position = bisect.bisect_left(LATENCY_BOUNDS_MS, duration_ms)
        bins[position] = bins.get(position, 0) + 1

    def totals(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Return ``{route: {side: {"n", "e", "b"}}}``, cumulative since the worker started."""
        routes: dict[str, dict[str, dict[str, Any]]] = {}
        for (route, side), (requests, errors, bins) in list(self._totals.items()):
            routes.setdefault(route, {})[side] = {
                "n": requests,
                "e": errors,
                "b": {str(k): v for k, v in bins.items()},
            }
        return routes


def route_payload(
    totals: Mapping[str, Mapping[str, Any]], shadow: Mapping[str, Mapping[str, int]]
) -> dict[str, Any]:
    """Merge request totals and shadow counts into what one worker publishes."""
    routes: dict[str, Any] = {route: dict(sides) for route, sides in totals.items()}
    for route, counts in shadow.items():
        routes.setdefault(route, {})["shadow"] = {k: int(counts.get(k, 0)) for k in SHADOW_RESULTS}
    return routes


@dataclass(slots=True)
class SideWindow:
    """Requests one side answered in a window: count, 5xx count, latency histogram."""

    requests: int = 0
    errors: int = 0
    bins: dict[int, int] = field(default_factory=dict)

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def p95_ms(self) -> float | None:
        if not self.requests:
            return None
        return percentile_of_bins(self.bins, self.requests, 0.95)

    def add(self, other: SideWindow) -> None:
        self.requests += other.requests
        self.errors += other.errors
        for k, v in other.bins.items():
            self.bins[k] = self.bins.get(k, 0) + v

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": round(self.error_rate, 4),
            "p95_ms": self.p95_ms,
        }

    def encode(self) -> dict[str, Any]:
        """The compact form kept in plan state (a reference window)."""
        return {
            "n": self.requests,
            "e": self.errors,
            "b": {str(k): v for k, v in self.bins.items()},
        }

    @classmethod
    def decode(cls, data: Mapping[str, Any] | None) -> SideWindow:
        if not data:
            return cls()
        return cls(
            int(data.get("n", 0)),
            int(data.get("e", 0)),
            {int(k): int(v) for k, v in dict(data.get("b", {})).items()},
        )


@dataclass(slots=True)
class ShadowWindow:
    """Shadow outcomes in a window."""

    match: int = 0
    mismatch: int = 0
    error: int = 0
    dropped: int = 0

    @property
    def compared(self) -> int:
        return self.match + self.mismatch + self.error

    @property
    def attempted(self) -> int:
        return self.compared + self.dropped

    @property
    def mismatch_rate(self) -> float:
        return (self.mismatch + self.error) / self.compared if self.compared else 0.0

    @property
    def drop_rate(self) -> float:
        return self.dropped / self.attempted if self.attempted else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "match": self.match,
            "mismatch": self.mismatch,
            "error": self.error,
            "dropped": self.dropped,
            "mismatch_rate": round(self.mismatch_rate, 4),
            "drop_rate": round(self.drop_rate, 4),
        }


@dataclass(slots=True)
class Window:
    """One route's figures over a step's window, summed over every worker."""

    legacy: SideWindow = field(default_factory=SideWindow)
    new: SideWindow = field(default_factory=SideWindow)
    shadow: ShadowWindow = field(default_factory=ShadowWindow)
    workers: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "legacy": self.legacy.as_json(),
            "new": self.new.as_json(),
            "shadow": self.shadow.as_json(),
            "workers": self.workers,
        }


def _side_delta(now: Mapping[str, Any] | None, then: Mapping[str, Any] | None) -> SideWindow:
    current = SideWindow.decode(now)
    before = SideWindow.decode(then)
    bins = {k: v - before.bins.get(k, 0) for k, v in current.bins.items()}
    return SideWindow(
        max(0, current.requests - before.requests),
        max(0, current.errors - before.errors),
        {k: v for k, v in bins.items() if v > 0},
    )


def window_between(
    route: str,
    baseline: Mapping[str, Mapping[str, Any]],
    current: Mapping[str, Mapping[str, Any]],
) -> Window:
    """Sum, over workers, what each published for ``route`` since its baseline.

    ``baseline`` and ``current`` map worker id -> that worker's payload for the route (the
    ``{"legacy": ..., "new": ..., "shadow": ...}`` part). A worker absent from ``baseline``
    started after the step did: everything it counted belongs to the step.
    """
    window = Window()
    for worker, payload in current.items():
        before = baseline.get(worker, {})
        window.workers += 1
        window.legacy.add(_side_delta(payload.get(LEGACY), before.get(LEGACY)))
        window.new.add(_side_delta(payload.get(NEW), before.get(NEW)))
        now_shadow = payload.get("shadow") or {}
        then_shadow = before.get("shadow") or {}
        for key in SHADOW_RESULTS:
            delta = max(0, int(now_shadow.get(key, 0)) - int(then_shadow.get(key, 0)))
            setattr(window.shadow, key, getattr(window.shadow, key) + delta)
    return window
