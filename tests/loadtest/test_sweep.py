"""The latency sweep: threads sized by Little's law, the table's shape, where async wins, chart."""

from __future__ import annotations

from pathlib import Path

from loadtest.results import RequestStats, RunResult
from loadtest.sweep import SWEEP_HEADER, sized_threads, sweep_chart, sweep_rows, where_async_wins
from loadtest.usage import UsageSummary


def point(
    system: str, latency: float, rps: float, p95: float, threads: int | None = None
) -> RunResult:
    stats = RequestStats("", "Aggregated", int(rps * 15), 0, rps, p95, p95, p95, p95, p95)
    return RunResult(
        system, "jobs", stats, UsageSummary(90.0, 88.0, 60, cpu_share=0.9), latency_ms=latency,
        threads=threads, users=100, sweep=True,
    )  # fmt: skip


SWEEP = [
    point("gunicorn", 0, 330.0, 40.0, 8),
    RunResult(
        "gunicorn-sized",
        "jobs",
        latency_ms=0,
        threads=8,
        sweep=True,
        error="skipped: Little's law sizes 8 threads, the same run",
    ),
    point("uvicorn", 0, 300.0, 45.0),
    point("gunicorn", 100, 76.0, 1400.0, 8),
    point("gunicorn-sized", 100, 260.0, 400.0, 34),
    point("uvicorn", 100, 450.0, 230.0),
]


def test_little_s_law_sizes_threads_to_the_latency_within_the_floor_and_the_users() -> None:
    # a core doing 3 ms of CPU per request, each waiting 100 ms on TWS: 1 + 100/3 -> 35 threads
    assert sized_threads(100, 3.0, floor=8, users=100) == 35
    assert sized_threads(200, 3.0, floor=8, users=50) == 50  # never more than the users
    assert sized_threads(0, 3.0, floor=8, users=100) == 8  # never fewer than the default
    assert sized_threads(100, None, floor=8, users=60) == 60  # unmeasured: one per user


def test_sweep_rows_give_every_server_and_ratio_per_latency() -> None:
    rows = sweep_rows(SWEEP, legacy_threads=8)

    assert all(len(row) == len(SWEEP_HEADER) for row in rows)
    zero, hundred = rows
    assert zero[:6] == ["sqlite", "0", "330.0", "40", "skipped: = 8 threads", "-"]
    assert zero[8:] == ["0.91x", "0.91x", "1.12x", "-"]
    assert hundred[:8] == ["sqlite", "100", "76.0", "1400", "260.0 (34)", "400", "450.0", "230"]
    assert hundred[8:] == ["5.92x", "1.73x", "0.16x", ">= 5x rps, p95 <= 0.5x"]


def test_where_async_wins_is_said_from_the_points() -> None:
    same, sized = where_async_wins(SWEEP)

    assert same == (
        "sqlite: FastAPI out-serves Flask with the same threads at 100 ms, most at 100 ms "
        "(5.92x); all points: 0.91x at 0 ms, 5.92x at 100 ms."
    )
    assert sized.startswith("sqlite: FastAPI out-serves Flask with sized threads at 100 ms")
    assert "0.91x at 0 ms" in sized  # the skipped sized run is the 8-thread one


def test_sweep_chart_draws_rps_and_p95_against_latency(tmp_path: Path) -> None:
    assert sweep_chart(SWEEP, tmp_path) == "sweep.png"
    assert (tmp_path / "sweep.png").read_bytes().startswith(b"\x89PNG")
    assert sweep_chart([], tmp_path / "none") is None
