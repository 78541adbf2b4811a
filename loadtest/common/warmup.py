"""Drop the first seconds after each ramp from the statistics (``--warmup-seconds``).

Locust's own ``--reset-stats`` resets the moment spawning completes, while the last users are
still signing in and the server's caches and pools are cold. This waits the given seconds more,
then resets and logs :data:`~loadtest.common.markers.WARMUP_OVER` so that the bench runner knows
when the measured window (and its memory sampling) starts.
"""

from __future__ import annotations

import logging
from typing import Any

import gevent
from locust.env import Environment
from locust.event import Events
from locust.runners import WorkerRunner

from loadtest.common.markers import WARMUP_OVER

__all__ = ["install"]

logger = logging.getLogger("loadtest.warmup")


def _reset(environment: Environment, seconds: float) -> None:
    stats = environment.stats
    if stats.total.num_failures:
        logger.warning("dropping %d failures seen during the warm-up", stats.total.num_failures)
    stats.reset_all()
    logger.info("%s after %g s of warm-up", WARMUP_OVER, seconds)


def _on_init(environment: Environment, **_kwargs: Any) -> None:
    options = environment.parsed_options
    seconds = float(getattr(options, "warmup_seconds", 0) or 0) if options else 0.0
    if seconds <= 0 or isinstance(environment.runner, WorkerRunner):
        return

    def reset_later(**_kwargs: Any) -> None:
        gevent.spawn_later(seconds, _reset, environment, seconds)

    environment.events.spawning_complete.add_listener(reset_later)


def install(events: Events) -> None:
    """Register the hook (call once, from the locustfile)."""
    events.init.add_listener(_on_init)
