"""Judge a finished run by its targets file and make Locust exit 1 when a target is missed.

Registered on Locust's ``init`` event (load and validate the file before any request) and
``quitting`` event (compare the final statistics). Each missed target gets one log line starting
with ``TARGET MISSED`` and naming the subject, metric, value and limit. Workers in distributed mode
skip the check: the master holds the aggregated statistics.
"""

from __future__ import annotations

import logging
from typing import Any

from locust.env import Environment
from locust.event import Events
from locust.runners import WorkerRunner
from locust.stats import StatsEntry

from loadtest.common.markers import TARGET_MISSED, TARGETS_MET
from loadtest.common.targets import Observed, Targets, TargetsError, evaluate, load_targets

__all__ = ["install", "observed"]

logger = logging.getLogger("loadtest.targets")
_targets: dict[int, Targets] = {}  # per Environment (one per process in practice)


def observed(entry: StatsEntry) -> Observed:
    """Turn one Locust statistics entry into the numbers the targets speak of."""
    return Observed(
        requests=entry.num_requests,
        failures=entry.num_failures,
        rps=entry.total_rps,
        p50_ms=entry.get_response_time_percentile(0.50),
        p95_ms=entry.get_response_time_percentile(0.95),
        p99_ms=entry.get_response_time_percentile(0.99),
    )


def _on_init(environment: Environment, **_kwargs: Any) -> None:
    path = getattr(environment.parsed_options, "targets", "") if environment.parsed_options else ""
    if not path or isinstance(environment.runner, WorkerRunner):
        return
    try:
        _targets[id(environment)] = load_targets(path)
    except TargetsError as exc:
        logger.error("%s", exc)
        raise SystemExit(2) from exc
    logger.info("judging this run by %s", path)


def _on_quitting(environment: Environment, **_kwargs: Any) -> None:
    targets = _targets.get(id(environment))
    if targets is None:
        return
    stats = environment.stats
    by_request = {
        f"{entry.method} {entry.name}": observed(entry) for entry in stats.entries.values()
    }
    missed = evaluate(targets, observed(stats.total), by_request)
    for miss in missed:
        logger.error("%s %s (%s)", TARGET_MISSED, miss, targets.source)
    if missed:
        environment.process_exit_code = 1
        return
    total = observed(stats.total)
    logger.info(
        "%s (%s): %.1f rps, p95 %.0f ms, p99 %.0f ms, %d failures",
        TARGETS_MET,
        targets.source,
        total.rps,
        total.p95_ms,
        total.p99_ms,
        total.failures,
    )


def install(events: Events) -> None:
    """Register the hooks (call once, from the locustfile)."""
    events.init.add_listener(_on_init)
    events.quitting.add_listener(_on_quitting)
