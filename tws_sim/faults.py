"""Decide, per /twsd request, how late it is answered and which fault (if any) it meets.

The decision is pure (a :class:`FaultPlan`); the app carries it out. Settings change at run time
from the control endpoint while requests are in flight: :class:`FaultInjector` swaps one
immutable :class:`~tws_sim.settings.FaultSettings` under a lock, and each request reads the
reference once, so it sees either the old settings or the new ones, never a mix.
"""

from __future__ import annotations

import enum
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tws_sim.settings import FaultSettings

__all__ = ["Fault", "FaultInjector", "FaultPlan"]


class Fault(enum.Enum):
    """What happens to a request once its latency has passed."""

    NONE = "none"
    ERROR = "error"  # answer 500 {"error": "injected failure"}
    TIMEOUT = "timeout"  # sleep timeout_seconds, then answer normally
    RESET = "reset"  # abort the TCP connection without an answer


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """The fate of one request: a delay in seconds, then a fault."""

    delay: float
    fault: Fault
    timeout_seconds: float


class FaultInjector:
    """Own the current fault settings and draw a :class:`FaultPlan` for each request."""

    def __init__(self, defaults: FaultSettings, *, seed: int | None = None) -> None:
        self._defaults = defaults
        self._settings = defaults
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    @property
    def settings(self) -> FaultSettings:
        """Return the settings in force now."""
        return self._settings

    def update(self, changes: Mapping[str, Any]) -> FaultSettings:
        """Apply a partial update atomically; raise ``InvalidSettings`` and change nothing."""
        with self._lock:
            self._settings = self._settings.updated(changes)
            return self._settings

    def reset(self) -> FaultSettings:
        """Restore the settings the simulator started with."""
        with self._lock:
            self._settings = self._defaults
            return self._settings

    def draw(self) -> FaultPlan:
        """Draw one request's plan; the rates are checked in order error, timeout, reset."""
        settings = self._settings
        draw = self._random.random
        delay = settings.latency_ms
        if settings.jitter_ms:
            delay += self._random.uniform(-settings.jitter_ms, settings.jitter_ms)
        fault = Fault.NONE
        if settings.error_rate and draw() < settings.error_rate:
            fault = Fault.ERROR
        elif settings.timeout_rate and draw() < settings.timeout_rate:
            fault = Fault.TIMEOUT
        elif settings.reset_rate and draw() < settings.reset_rate:
            fault = Fault.RESET
        return FaultPlan(max(delay, 0.0) / 1000.0, fault, settings.timeout_seconds)
