"""The bench report: the migration's comparison against its promise, overhead ratios, charts."""

from __future__ import annotations

import json
from pathlib import Path

from loadtest.bench import BenchSettings
from loadtest.report import (
    caveats,
    cpu_ms_per_request,
    migration_rows,
    overhead_rows,
    write_report,
)
from loadtest.report import main as report_main
from loadtest.results import RequestStats, RunResult
from loadtest.usage import UsageSummary


def result(system: str, rps: float, p95: float, rss: float, scenario: str = "agents") -> RunResult:
    stats = RequestStats(
        "", "Aggregated", int(rps * 30), 0, rps, p95 / 2, p95 / 2, p95, p95 * 2, p95 * 3
    )
    return RunResult(
        system, scenario, stats, UsageSummary(rss * 1.1, rss, 100), "loadtest/targets/x.toml"
    )


RESULTS = [
    result("gunicorn", 100.0, 100.0, 100.0),
    result("proxy-legacy", 80.0, 130.0, 150.0),
    result("uvicorn", 600.0, 20.0, 60.0),
    result("proxy-new", 540.0, 25.0, 90.0),
    RunResult("proxy-shadow", "agents", error="ServerError: resync-strangler is not installed"),
]


def test_migration_rows_compare_flask_and_fastapi_against_the_promise() -> None:
    rows = {row[1]: row for row in migration_rows(RESULTS, "agents")}

    assert rows["throughput (rps)"][2:] == ["100.0", "600.0", "6.00x", "5-7x", "met"]
    assert rows["latency p95 (ms)"][2:] == ["100", "20", "80% lower", "70% lower", "met"]
    assert rows["latency p99 (ms)"][2:] == ["200", "40", "80% lower", "70% lower", "met"]
    assert rows["memory, avg RSS (MiB)"][2:] == ["100.0", "60.0", "40% less", "47% less", "not met"]


def test_cpu_per_request_compares_efficiency_whatever_share_of_the_core_each_got() -> None:
    old = result("gunicorn", 100.0, 100.0, 100.0)
    new = result("uvicorn", 150.0, 50.0, 90.0)
    old.usage = UsageSummary(110.0, 100.0, 100, cpu_share=0.5)  # starved: half its core
    new.usage = UsageSummary(99.0, 90.0, 100, cpu_share=0.9)

    rows = {row[1]: row for row in migration_rows([old, new], "agents")}

    assert cpu_ms_per_request(old) == 5.0
    assert cpu_ms_per_request(new) == 6.0
    assert rows["server CPU per request (ms)"][2:5] == [
        "5.00",
        "6.00",
        "20% more (0.83x the requests per CPU second)",
    ]


def test_a_regression_is_reported_as_such() -> None:
    worse = [result("gunicorn", 100.0, 50.0, 50.0), result("uvicorn", 90.0, 60.0, 70.0)]

    rows = {row[1]: row for row in migration_rows(worse, "agents")}

    assert rows["throughput (rps)"][4:] == ["0.90x", "5-7x", "not met"]
    assert rows["latency p95 (ms)"][4] == "20% higher"
    assert rows["memory, avg RSS (MiB)"][4] == "40% more"


def test_overhead_rows_give_the_proxy_share_of_the_bare_server() -> None:
    rows = overhead_rows(RESULTS, "agents")

    assert rows == [
        ["agents", "proxy-new / uvicorn", "540.0 / 600.0", "0.90", "1.25"],
        ["agents", "proxy-legacy / gunicorn", "80.0 / 100.0", "0.80", "1.30"],
    ]


def test_comparisons_need_both_sides() -> None:
    only_legacy = [result("gunicorn", 100.0, 100.0, 100.0)]

    assert migration_rows(only_legacy, "agents") == []
    assert overhead_rows(only_legacy, "agents") == []


def test_report_has_the_tables_charts_failed_runs_and_raw_numbers(tmp_path: Path) -> None:
    settings = BenchSettings(
        duration=30, users=50, command="python -m loadtest.bench --duration 30"
    )

    report = write_report(RESULTS, settings, tmp_path)

    text = report.read_text()
    assert "Command: `python -m loadtest.bench --duration 30`" in text
    uvicorn_row = "| agents | uvicorn | 600.0 | 10 | 20 | 40 | 0 / 18000 (0.00%) | 66.0 | 60.0 |"
    assert f"{uvicorn_row} 0% | - | - | met | - |" in text
    assert (
        "| agents | proxy-shadow | - | - | - | - | not run: ServerError: resync-strangler" in text
    )
    assert "| agents | throughput (rps) | 100.0 | 600.0 | 6.00x | 5-7x | met |" in text
    assert "| agents | proxy-new / uvicorn | 540.0 / 600.0 | 0.90 | 1.25 |" in text
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

    assert "agents/gunicorn (40% CPU, load 6.5)" in caveat
    assert "uvicorn" not in caveat
