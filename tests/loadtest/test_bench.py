"""The bench runner end to end, in miniature: one system, one scenario, a few seconds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from loadtest.servers import REPO_ROOT


def test_bench_measures_a_server_and_writes_the_report(tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "loadtest.bench", "--duration", "4", "--users", "2",
        "--warmup", "2", "--latency-ms", "1", "--systems", "gunicorn", "--scenarios", "agents",
        "--no-pin", "--report-dir", str(tmp_path / "reports"), "--work-dir", str(tmp_path / "work"),
    ]  # fmt: skip

    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (folder,) = (tmp_path / "reports").iterdir()
    report = (folder / "report.md").read_text()
    assert "| agents | gunicorn |" in report
    assert "| scenario | system | rps |" in done.stdout  # the table is printed at the end
    run = json.loads((folder / "results.json").read_text())["runs"][0]
    assert run["error"] == ""
    assert run["stats"]["requests"] > 0
    assert run["stats"]["failures"] == 0
    assert run["usage"]["samples"] > 0  # sampled after the warm-up, while measured
    assert run["usage"]["peak_mib"] >= run["usage"]["avg_mib"] > 0
    assert run["usage"]["cpu_share"] > 0
    assert run["client_cpu"] > 0
    assert (folder / "runs" / "agents-gunicorn_stats.csv").exists()
