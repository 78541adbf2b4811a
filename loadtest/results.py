"""Read a Locust run's statistics CSV and hold one bench run's results.

Locust's ``--csv PREFIX`` writes ``PREFIX_stats.csv`` with one row per request name and a final
``Aggregated`` row; response times are in milliseconds and Locust rounds them before bucketing
(to the millisecond under 100 ms, to 10 ms under 1 s), so percentiles are that coarse.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loadtest.usage import UsageSummary

__all__ = ["AGGREGATED", "RequestStats", "RunResult", "read_failures_csv", "read_stats_csv"]

AGGREGATED = "Aggregated"


@dataclass(frozen=True, slots=True)
class RequestStats:
    """One row of a Locust statistics CSV."""

    method: str
    name: str
    requests: int
    failures: int
    rps: float
    avg_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @property
    def fail_ratio(self) -> float:
        """Failed requests over all requests (0 when there were none)."""
        return self.failures / self.requests if self.requests else 0.0


def _number(value: str) -> float:
    return 0.0 if value in ("", "N/A") else float(value)


def read_stats_csv(path: str | Path) -> dict[str, RequestStats]:
    """Return the rows of ``PREFIX_stats.csv`` keyed ``"GET /api/v1/agents"`` and ``Aggregated``."""
    rows: dict[str, RequestStats] = {}
    with Path(path).open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            stats = RequestStats(
                method=row["Type"],
                name=row["Name"],
                requests=int(row["Request Count"]),
                failures=int(row["Failure Count"]),
                rps=_number(row["Requests/s"]),
                avg_ms=_number(row["Average Response Time"]),
                p50_ms=_number(row["50%"]),
                p95_ms=_number(row["95%"]),
                p99_ms=_number(row["99%"]),
                max_ms=_number(row["Max Response Time"]),
            )
            key = AGGREGATED if row["Name"] == AGGREGATED else f"{row['Type']} {row['Name']}"
            rows[key] = stats
    return rows


def read_failures_csv(path: str | Path, limit: int = 5) -> dict[str, int]:
    """The most frequent failures of ``PREFIX_failures.csv``: ``"GET name: error"`` -> count."""
    counts: dict[str, int] = {}
    try:
        with Path(path).open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                key = f"{row['Method']} {row['Name']}: {row['Error']}"[:200]
                counts[key] = counts.get(key, 0) + int(row["Occurrences"])
    except (OSError, KeyError, ValueError):
        return {}
    top = sorted(counts.items(), key=lambda item: -item[1])[:limit]
    return dict(top)


@dataclass
class RunResult:
    """What one (system, scenario) run measured, or why it could not run."""

    system: str  # "gunicorn", "proxy-new"... ("gunicorn-sized" in the latency sweep)
    scenario: str  # "agents", "jobs", "operator"
    stats: RequestStats | None = None
    usage: UsageSummary | None = None
    targets: str = ""  # the targets file used
    missed: list[str] = field(default_factory=list)  # "TARGET MISSED ..." lines
    exit_code: int | None = None
    load_avg: float | None = None  # the machine's 1-minute load average when the run ended
    client_cpu: float | None = None  # Locust's CPU seconds per wall second (1.0 = its core)
    notes: list[str] = field(default_factory=list)  # canary split, shadow counts...
    error: str = ""  # set when the run could not happen
    database: str = "sqlite"  # "sqlite" | "postgresql"
    latency_ms: float | None = None  # the simulator's latency during the run
    threads: int | None = None  # gunicorn's threads (legacy runs)
    users: int | None = None  # Locust users (closed loop)
    sweep: bool = False  # a point of the latency sweep, not a main scenario run
    locust_cpu: float | None = None  # Locust's CPU share in the measured window
    sim_cpu: float | None = None  # the simulator's (it shares the client core with Locust)
    pool_timeouts: int = 0  # "QueuePool limit ... reached" lines in the server's log
    failure_kinds: dict[str, int] = field(default_factory=dict)  # Locust's failure messages

    @property
    def ok(self) -> bool:
        """True when the run produced statistics."""
        return self.stats is not None and not self.error

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``results.json`` in the report folder)."""
        data = asdict(self)
        if self.stats is not None:
            data["stats"]["fail_ratio"] = self.stats.fail_ratio
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        """Rebuild a result from :meth:`to_json`'s dict (to render a report again)."""
        fields = dict(data)
        if fields.get("stats") is not None:
            stats = {k: v for k, v in fields["stats"].items() if k != "fail_ratio"}
            fields["stats"] = RequestStats(**stats)
        if fields.get("usage") is not None:
            fields["usage"] = UsageSummary(**fields["usage"])
        return cls(**fields)
