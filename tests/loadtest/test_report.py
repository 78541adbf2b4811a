"""The bench report: the migration's comparison against its promise, overhead ratios, charts."""

from __future__ import annotations

import json
from pathlib import Path

from loadtest.report import (
    caveats,
    cpu_ms_per_request,
    migration_rows,
    overhead_rows,
    write_report,
)
from loadtest.report import main as report_main
from loadtest.results import RequestStats, RunResult
from loadtest.settings import BenchSettings
from loadtest.usage import UsageSummary


def result(system: str, rps: float, p95: float, rss: float, scenario: str = "agents") -> RunResult:
    stats = RequestStats(
        "", "Aggregated", int(rps * 30), 0, rps, p95 / 2, p95 / 2, p95, p95 * 2, p95 * 3
    )
    return RunResult(
        system,
        scenario,
        stats,
        UsageSummary(rss * 1.1, rss, 100),
        "loadtest/targets/x.toml",
        latency_ms=20,
    )


RESULTS = [
    result("gunicorn", 100.0, 100.0, 100.0),
    result("proxy-legacy", 80.0, 130.0, 150.0),
    result("uvicorn", 600.0, 20.0, 60.0),
    result("proxy-new", 540.0, 25.0, 90.0),
    RunResult("proxy-shadow", "agents", error="ServerError: resync-strangler is not installed"),
]


def test_migration_rows_judge_flask_and_fastapi_against_the_promise() -> None:
    rows = {row[2]: row for row in migration_rows(RESULTS)}

    assert rows["throughput (rps)"][:2] == ["sqlite", "agents, TWS 20 ms"]
    assert rows["throughput (rps)"][3:] == ["100.0", "600.0", "6.00x", ">= 2x", "met", "-"]
    assert rows["memory, avg RSS (MiB)"][3:8] == ["100.0", "60.0", "0.60x", "<= 1x", "met"]


def test_cpu_per_request_compares_efficiency_whatever_share_of_the_core_each_got() -> None:
    old = result("gunicorn", 100.0, 100.0, 100.0)
    new = result("uvicorn", 150.0, 50.0, 90.0)
    old.usage = UsageSummary(110.0, 100.0, 100, cpu_share=0.5)  # starved: half its core
    new.usage = UsageSummary(99.0, 90.0, 100, cpu_share=0.9)

    rows = {row[2]: row for row in migration_rows([old, new])}

    assert cpu_ms_per_request(old) == 5.0
    assert cpu_ms_per_request(new) == 6.0
    assert rows["server CPU per request (ms)"][3:8] == [
        "5.00",
        "6.00",
        "1.20x",
        "<= 0.4x",
        "missed",
    ]
    assert (
        "FastAPI server CPU saturated (90% of its core, 6.00 ms/req)"
        in rows["server CPU per request (ms)"][8]
    )


def test_a_regression_is_reported_as_such() -> None:
    worse = [result("gunicorn", 100.0, 50.0, 50.0), result("uvicorn", 90.0, 60.0, 70.0)]

    rows = {row[2]: row for row in migration_rows(worse)}

    assert rows["throughput (rps)"][5:8] == ["0.90x", ">= 2x", "missed"]
    assert rows["memory, avg RSS (MiB)"][5:8] == ["1.40x", "<= 1x", "missed"]


def test_overhead_rows_give_the_proxy_share_of_the_bare_server() -> None:
    rows = overhead_rows(RESULTS, "agents")

    assert rows == [
        ["agents", "proxy-new / uvicorn", "540.0 / 600.0", "0.90", "1.25"],
        ["agents", "proxy-legacy / gunicorn", "80.0 / 100.0", "0.80", "1.30"],
    ]


def test_comparisons_need_both_sides() -> None:
    only_legacy = [result("gunicorn", 100.0, 100.0, 100.0)]

    ((_, _, metric, *_, verdict, cause),) = migration_rows(only_legacy)
    assert (metric, verdict, cause) == ("all", "not measured", "no successful run of FastAPI")
    assert overhead_rows(only_legacy, "agents") == []


def test_report_has_the_tables_charts_failed_runs_and_raw_numbers(tmp_path: Path) -> None:
    settings = BenchSettings(
        duration=30, users=50, command="python -m loadtest.bench --duration 30"
    )

    report = write_report(RESULTS, settings, tmp_path)

    text = report.read_text()
    assert "Command: `python -m loadtest.bench --duration 30`" in text
    uvicorn_row = (
        "| agents | uvicorn | sqlite | 600.0 | 10 | 20 | 40 | 0 / 18000 (0.00%) | 66.0 | 60.0 |"
    )
    assert f"{uvicorn_row} 0% | - | - | - | met | - |" in text
    assert (
        "| agents | proxy-shadow | sqlite | - | - | - | - | not run: ServerError: resync-strangler"
        in text
    )
    assert (
        "| sqlite | agents, TWS 20 ms | throughput (rps) | 100.0 | 600.0 | 6.00x | >= 2x "
        "| met | - |" in text
    )
    assert "| sqlite | agents | proxy-new / uvicorn | 540.0 / 600.0 | 0.90 | 1.25 |" in text
    assert "![throughput](throughput.png)" in text
    assert (tmp_path / "throughput.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "latency.png").read_bytes().startswith(b"\x89PNG")
    raw = json.loads((tmp_path / "results.json").read_text())
    assert [run["system"] for run in raw["runs"]] == [r.system for r in RESULTS]
    assert raw["runs"][2]["stats"]["rps"] == 600.0


def test_report_renders_again_from_its_results_json(tmp_path: Path) -> None:
    settings = BenchSettings(duration=20, users=40, latency_ms=5, command="python -m x")
    first = write_report(RESULTS, settings, tmp_path).read_text()
    (tmp_path / "report.md").unlink()

    assert report_main([str(tmp_path)]) == 0

    again = (tmp_path / "report.md").read_text()
    table = first.split("## Results", 1)[1].split("## Charts", 1)[0]
    assert table == again.split("## Results", 1)[1].split("## Charts", 1)[0]
    assert "40 users" in again
    assert "latency 5 ms" in again


def test_starved_runs_are_called_out() -> None:
    starved = result("gunicorn", 100.0, 100.0, 100.0)
    starved.usage = UsageSummary(110.0, 100.0, 100, cpu_share=0.4)
    starved.load_avg = 6.5
    calm = result("uvicorn", 100.0, 100.0, 100.0)
    calm.usage = UsageSummary(110.0, 100.0, 100, cpu_share=0.4)
    calm.load_avg = 0.9  # waiting, not starved: the machine was idle

    (caveat,) = caveats([starved, calm])

    assert "sqlite/agents/gunicorn (40% CPU, load 6.5)" in caveat
    assert "uvicorn" not in caveat


def test_report_has_the_sweep_the_burst_and_renders_them_again(tmp_path: Path) -> None:
    from loadtest.burst import BurstResult

    def sweep_point(system: str, latency: float, rps: float) -> RunResult:
        run = result(system, rps, 100.0, 90.0, scenario="jobs")
        run.sweep, run.latency_ms, run.threads = True, latency, 8 if system != "uvicorn" else None
        return run

    sweep = [sweep_point("gunicorn", 100, 76.0), sweep_point("uvicorn", 100, 400.0)]
    burst = BurstResult(
        "uvicorn", "postgresql", 240, 2.0, 30.0, 120.0, statuses={"504": 150, "500": 90},
        answered=240, slowest_s=26.0, p50_s=20.0, late=200, probes=4, probes_ok=4,
        probe_statuses={"200": 4}, probe_slowest_s=0.1, pool_timeouts=90,
    )  # fmt: skip
    settings = BenchSettings(command="python -m loadtest.bench", sweep=(100,))

    text = write_report([*RESULTS, *sweep], settings, tmp_path, [burst]).read_text()

    assert "| sqlite | 100 | 76.0 | 100 | - | - | 400.0 | 100 | 5.26x |" in text
    assert "| sqlite | jobs, TWS 100 ms (sweep) | throughput (rps) | 76.0 | 400.0 | 5.26x |" in text
    assert "| postgresql | uvicorn | 150 x 504, 90 x 500 | 90 | 26.00 |" in text
    assert "| 5xx other than 504 | - | 90 | 150 x 504, 90 x 500 | 0 | missed |" in text
    assert "![sweep](sweep.png)" in text
    assert "PostgreSQL's own server processes are not pinned" in text
    (tmp_path / "report.md").unlink()
    assert report_main([str(tmp_path)]) == 0
    again = (tmp_path / "report.md").read_text()
    assert (
        again.split("## Charts")[0].split("\n", 1)[1]
        == text.split("## Charts")[0].split("\n", 1)[1]
    )


def test_a_saturated_client_core_is_called_out() -> None:
    busy = result("uvicorn", 900.0, 20.0, 90.0)
    busy.locust_cpu, busy.sim_cpu = 0.8, 0.15

    (caveat,) = caveats([busy])

    assert "sqlite/agents/uvicorn (95%)" in caveat
    assert "the load generator, not the server, may have set" in caveat
