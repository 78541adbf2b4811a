"""The latency sweep: Flask (8 threads, and threads sized to the latency) against FastAPI.

At each TWS latency (0, 20, 50, 100, 200 ms by default) the ``jobs`` scenario (one TWS call per
request) runs on three servers: gunicorn with the bench's ``--legacy-threads`` (8), gunicorn
with threads sized to the latency, and uvicorn. A thread of the legacy app is busy for the whole
TWS call, so 8 threads cap Flask at 8 / (latency + CPU time) requests per second; async holds
any number of calls on one thread and is capped by its CPU time alone.

Sizing, by Little's law: to keep its core busy a server must hold ``L = lambda x W`` requests
at once, where ``lambda`` is the rate one core sustains (1000 / CPU ms per request) and ``W``
the time one request takes (TWS latency + CPU ms). So ``threads = ceil(1 + latency / cpu_ms)``,
with ``cpu_ms`` the CPU per request the 8-thread run just measured at the same latency, never
fewer than ``--legacy-threads`` and never more than the users (a closed loop has at most that
many requests in flight). When the sized count equals ``--legacy-threads`` the sized run would
repeat the 8-thread one, so it is skipped and the table says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from loadtest.promise import find, throughput_promise
from loadtest.results import RunResult

__all__ = [
    "SIZED",
    "SWEEP_LATENCIES",
    "sized_threads",
    "sweep_chart",
    "sweep_rows",
    "where_async_wins",
]

SWEEP_LATENCIES = (0, 20, 50, 100, 200)
LEGACY, SIZED, NEW = "gunicorn", "gunicorn-sized", "uvicorn"
SWEEP_HEADER = (
    "database", "TWS ms", "Flask 8 thr rps", "p95", "Flask sized rps (threads)", "p95",
    "FastAPI rps", "p95", "FastAPI / Flask 8", "FastAPI / Flask sized", "p95 FastAPI / Flask 8",
    "promise",
)  # fmt: skip


def sized_threads(latency_ms: float, cpu_ms: float | None, *, floor: int, users: int) -> int:
    """Threads a gunicorn worker needs to keep its core busy at ``latency_ms`` (Little's law).

    ``cpu_ms`` unknown (the 8-thread run failed): one thread per user, the closed loop's most.
    """
    if not cpu_ms or cpu_ms <= 0:
        return max(floor, users)
    needed = math.ceil(1 + latency_ms / cpu_ms)
    return max(floor, min(users, needed))


def _ratio(a: RunResult | None, b: RunResult | None, attr: str = "rps") -> float | None:
    if a is None or b is None or a.stats is None or b.stats is None:
        return None
    denominator = getattr(b.stats, attr)
    return getattr(a.stats, attr) / denominator if denominator else None


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _points(results: Sequence[RunResult]) -> list[tuple[str, float]]:
    seen = {(r.database, r.latency_ms) for r in results if r.sweep and r.latency_ms is not None}
    return sorted(seen, key=lambda p: (p[0], p[1]))


def sweep_rows(results: Sequence[RunResult], legacy_threads: int) -> list[list[str]]:
    """One row per (database, latency): the three servers' rps and p95 and their ratios."""
    rows = []
    for database, latency in _points(results):
        old, sized, new = (
            find(results, "jobs", system, database, sweep=True, latency_ms=latency)
            for system in (LEGACY, SIZED, NEW)
        )
        skipped = next(
            (r for r in results if r.sweep and r.system == SIZED and r.database == database
             and r.latency_ms == latency and r.error.startswith("skipped")), None,
        )  # fmt: skip

        def cells(run: RunResult | None) -> list[str]:
            if run is None or run.stats is None:
                return ["-", "-"]
            return [f"{run.stats.rps:.1f}", f"{run.stats.p95_ms:.0f}"]

        sized_cells = cells(sized)
        if sized is not None and sized.threads:
            sized_cells[0] += f" ({sized.threads})"
        elif skipped is not None:
            sized_cells = [f"skipped: = {legacy_threads} threads", "-"]
        promise = throughput_promise("jobs", latency)
        rows.append(
            [
                database,
                f"{latency:g}",
                *cells(old),
                *sized_cells,
                *cells(new),
                _x(_ratio(new, old)),
                _x(_ratio(new, sized if sized is not None else old)),
                _x(_ratio(new, old, "p95_ms")),
                "-" if promise is None else f">= {promise:g}x rps, p95 <= 0.5x",
            ]
        )
    return rows


def where_async_wins(results: Sequence[RunResult]) -> list[str]:
    """Sentences: from which latency FastAPI out-serves each Flask, and by how much at most."""
    lines = []
    for database in dict.fromkeys(d for d, _ in _points(results)):
        latencies = [lat for d, lat in _points(results) if d == database]
        for against, label in (
            (LEGACY, "Flask with the same threads"),
            (SIZED, "Flask with sized threads"),
        ):
            factors = []
            for latency in latencies:
                new = find(results, "jobs", NEW, database, sweep=True, latency_ms=latency)
                old = find(results, "jobs", against, database, sweep=True, latency_ms=latency)
                if against == SIZED and old is None:  # skipped: the same as 8 threads
                    old = find(results, "jobs", LEGACY, database, sweep=True, latency_ms=latency)
                factor = _ratio(new, old)
                if factor is not None:
                    factors.append((latency, factor))
            if not factors:
                continue
            wins = [lat for lat, f in factors if f > 1.0]
            best = max(factors, key=lambda item: item[1])
            if not wins:
                lines.append(
                    f"{database}: FastAPI never out-served {label} "
                    f"(best {best[1]:.2f}x at {best[0]:g} ms)."
                )
                continue
            listed = ", ".join(f"{f:.2f}x at {lat:g} ms" for lat, f in factors)
            at = ", ".join(f"{w:g}" for w in wins)
            lines.append(
                f"{database}: FastAPI out-serves {label} at {at} ms, "
                f"most at {best[0]:g} ms ({best[1]:.2f}x); all points: {listed}."
            )
    return lines


def sweep_chart(results: Sequence[RunResult], folder: Path) -> str | None:
    """``sweep.png``: rps and p95 against TWS latency, one line per server (first database)."""
    points = _points(results)
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    database = points[0][0]
    latencies = [lat for d, lat in points if d == database]
    fig, (ax_rps, ax_p95) = plt.subplots(1, 2, figsize=(12, 4.5))
    for system, label, style in (
        (LEGACY, "Flask, gunicorn, same threads", "o-"),
        (SIZED, "Flask, gunicorn, threads sized", "s--"),
        (NEW, "FastAPI, uvicorn", "^-"),
    ):
        xs, rps, p95 = [], [], []
        for latency in latencies:
            run = find(results, "jobs", system, database, sweep=True, latency_ms=latency)
            if run is None and system == SIZED:
                run = find(results, "jobs", LEGACY, database, sweep=True, latency_ms=latency)
            if run is None or run.stats is None:
                continue
            xs.append(latency)
            rps.append(run.stats.rps)
            p95.append(run.stats.p95_ms)
        if xs:
            ax_rps.plot(xs, rps, style, label=label)
            ax_p95.plot(xs, p95, style, label=label)
    ax_rps.set_xlabel("TWS latency (ms)")
    ax_rps.set_ylabel("requests per second")
    ax_rps.set_title(f"jobs: throughput against TWS latency ({database})")
    ax_p95.set_xlabel("TWS latency (ms)")
    ax_p95.set_ylabel("p95 (ms)")
    ax_p95.set_title("jobs: p95 against TWS latency")
    for ax in (ax_rps, ax_p95):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "sweep.png", dpi=110)
    plt.close(fig)
    return "sweep.png"
