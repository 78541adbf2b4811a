"""The bench runner end to end, in miniature: a scenario run, a sweep point and a burst."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest.bench import _parse
from loadtest.servers import REPO_ROOT


def test_bench_measures_a_run_a_sweep_point_and_a_burst_and_writes_the_report(
    tmp_path: Path,
) -> None:
    command = [
        sys.executable, "-m", "loadtest.bench", "--duration", "3", "--users", "2",
        "--warmup", "1", "--latency-ms", "1", "--systems", "gunicorn", "--scenarios", "agents",
        "--databases", "sqlite", "--sweep", "20", "--sweep-users", "3", "--sweep-duration", "3",
        "--burst", "uvicorn", "--burst-requests", "6", "--burst-timeout", "0.5",
        "--burst-hang", "5", "--burst-client-timeout", "30",
        "--no-pin", "--report-dir", str(tmp_path / "reports"), "--work-dir", str(tmp_path / "work"),
    ]  # fmt: skip

    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (folder,) = (tmp_path / "reports").iterdir()
    report = (folder / "report.md").read_text()
    assert "| agents | gunicorn | sqlite |" in report
    assert "| scenario | system | db | rps |" in done.stdout  # the tables are printed at the end
    assert "## Latency sweep: jobs against TWS latency" in report
    assert "## Burst: TWS hanging past the timeout" in report
    raw = json.loads((folder / "results.json").read_text())
    main, *sweep = raw["runs"]
    assert main["error"] == ""
    assert main["stats"]["requests"] > 0
    assert main["stats"]["failures"] == 0
    assert main["usage"]["samples"] > 0  # sampled after the warm-up, while measured
    assert main["usage"]["peak_mib"] >= main["usage"]["avg_mib"] > 0
    assert main["usage"]["cpu_share"] > 0
    assert main["locust_cpu"] > 0 and main["sim_cpu"] is not None
    assert (folder / "runs" / "sqlite-agents-gunicorn_stats.csv").exists()
    # the sweep point: Flask with 8 threads, the sized run skipped (3 users need no more), FastAPI
    assert [(r["system"], r["latency_ms"], r["sweep"]) for r in sweep] == [
        ("gunicorn", 20, True), ("gunicorn-sized", 20, True), ("uvicorn", 20, True),
    ]  # fmt: skip
    assert sweep[1]["error"].startswith("skipped: Little's law sizes 8 threads")
    assert sweep[0]["stats"]["requests"] > 0 and sweep[2]["stats"]["requests"] > 0
    (burst,) = raw["bursts"]
    assert burst["error"] == ""
    assert (burst["app"], burst["requests"], burst["answered"]) == ("uvicorn", 6, 6)
    assert burst["statuses"] == {"504": 6}  # TWS hung past the 0.5 s timeout for every one
    assert burst["probes"] >= 1 and burst["probes_ok"] == burst["probes"]
    assert (folder / "sweep.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--databases", "mysql"], "unknown systems/scenarios/databases/burst apps: mysql"),
        (["--sweep", "fast"], "--sweep takes whole milliseconds"),
        (["--burst-hang", "1", "--burst-timeout", "2"], "--burst-hang must be longer"),
        (["--scenarios", "none", "--sweep", "none", "--burst", "none"], "nothing to run"),
    ],
)
def test_bad_options_stop_the_bench_before_anything_runs(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        _parse(args)

    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


def test_parts_can_be_picked_and_none_turns_a_phase_off() -> None:
    settings = _parse(["--scenarios", "none", "--sweep", "20,100", "--burst", "none",
                       "--databases", "postgresql"])  # fmt: skip

    assert settings.scenarios == () and settings.systems == ()
    assert settings.sweep == (20, 100)
    assert settings.burst == ()
    assert settings.databases == ("postgresql",)
    defaults = _parse([])
    assert defaults.scenarios == ("agents", "jobs", "operator")
    assert defaults.databases == ("sqlite", "postgresql")
    assert defaults.sweep == (0, 20, 50, 100, 200)
    assert defaults.burst == ("gunicorn", "uvicorn")
