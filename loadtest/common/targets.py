"""Load a run's targets from TOML and name every one the observed numbers miss.

A targets file (``loadtest/targets/<scenario>-<server>.toml``)::

    description = "Authenticated GET /api/v1/agents on the legacy app under gunicorn, one core"

    [aggregate]                 # all requests of the run together
    rps_min = 300               # throughput floor, requests per second
    p95_ms_max = 400            # latency ceilings, milliseconds
    p99_ms_max = 800
    fail_ratio_max = 0.0        # the default: any failed request misses the target

    [requests."GET /api/v1/agents"]   # optional: one request name (method, space, Locust name)
    p95_ms_max = 400

Every limit is optional except that ``fail_ratio_max`` defaults to 0. A subject with no requests
at all always misses (a run that did nothing must not pass). Pure Python: Locust is not imported.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["Limits", "Miss", "Observed", "Targets", "TargetsError", "evaluate", "load_targets"]

AGGREGATE = "Aggregated"


class TargetsError(ValueError):
    """A targets file that cannot be read or holds unknown keys or bad values."""


@dataclass(frozen=True, slots=True)
class Limits:
    """The numbers one subject (the whole run or one request name) must meet."""

    rps_min: float | None = None
    p50_ms_max: float | None = None
    p95_ms_max: float | None = None
    p99_ms_max: float | None = None
    fail_ratio_max: float = 0.0


@dataclass(frozen=True, slots=True)
class Targets:
    """A parsed targets file."""

    source: str
    description: str = ""
    aggregate: Limits = field(default_factory=Limits)
    requests: Mapping[str, Limits] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Observed:
    """What a run measured for one subject."""

    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @property
    def fail_ratio(self) -> float:
        """Failed requests over all requests (0 when there were none)."""
        return self.failures / self.requests if self.requests else 0.0


@dataclass(frozen=True, slots=True)
class Miss:
    """One target the run missed."""

    subject: str  # "Aggregated" or "GET /api/v1/agents"
    metric: str  # "rps", "p95_ms", "fail_ratio", "requests"
    observed: float
    limit: float
    kind: str  # "floor" or "ceiling"

    def __str__(self) -> str:
        if self.metric == "requests":
            return f"{self.subject}: no requests were made"
        relation = "below the floor" if self.kind == "floor" else "above the ceiling"
        return f"{self.subject}: {self.metric} {self.observed:g} is {relation} {self.limit:g}"


_LIMIT_KEYS = {f.name for f in fields(Limits)}


def _limits(table: Any, where: str) -> Limits:
    if not isinstance(table, dict):
        raise TargetsError(f"{where} must be a table")
    unknown = sorted(set(table) - _LIMIT_KEYS)
    if unknown:
        raise TargetsError(
            f"{where}: unknown keys {', '.join(unknown)} (known: {', '.join(sorted(_LIMIT_KEYS))})"
        )
    values: dict[str, float] = {}
    for key, value in table.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise TargetsError(f"{where}.{key} must be a non-negative number, not {value!r}")
        values[key] = float(value)
    return Limits(**values)


def load_targets(path: str | Path) -> Targets:
    """Parse a targets file; raise :class:`TargetsError` naming what is wrong."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TargetsError(f"cannot read targets {path}: {exc}") from exc
    unknown = sorted(set(document) - {"description", "aggregate", "requests"})
    if unknown:
        raise TargetsError(f"{path}: unknown keys {', '.join(unknown)}")
    requests = document.get("requests", {})
    if not isinstance(requests, dict):
        raise TargetsError(f"{path}: requests must be a table of request names")
    return Targets(
        source=str(path),
        description=str(document.get("description", "")),
        aggregate=_limits(document.get("aggregate", {}), "aggregate"),
        requests={name: _limits(table, f"requests.{name!r}") for name, table in requests.items()},
    )


def _misses(subject: str, limits: Limits, observed: Observed | None) -> list[Miss]:
    if observed is None or observed.requests == 0:
        return [Miss(subject, "requests", 0, 1, "floor")]
    found: list[Miss] = []
    if limits.rps_min is not None and observed.rps < limits.rps_min:
        found.append(Miss(subject, "rps", observed.rps, limits.rps_min, "floor"))
    for metric in ("p50_ms", "p95_ms", "p99_ms"):
        ceiling = getattr(limits, f"{metric}_max")
        value = getattr(observed, metric)
        if ceiling is not None and value > ceiling:
            found.append(Miss(subject, metric, value, ceiling, "ceiling"))
    if observed.fail_ratio > limits.fail_ratio_max:
        found.append(
            Miss(subject, "fail_ratio", observed.fail_ratio, limits.fail_ratio_max, "ceiling")
        )
    return found


def evaluate(
    targets: Targets, aggregate: Observed, by_request: Mapping[str, Observed]
) -> list[Miss]:
    """Return every target missed: the aggregate first, then each request name in file order."""
    missed = _misses(AGGREGATE, targets.aggregate, aggregate)
    for name, limits in targets.requests.items():
        missed.extend(_misses(name, limits, by_request.get(name)))
    return missed
