"""The memory soak: its /proc reading, its verdict and report, and a short run end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from loadtest.soak import (
    Memory,
    Phase,
    SoakResult,
    SoakSettings,
    read_memory,
    verdict,
    write_soak_report,
)
from tests.services import REPO_ROOT


def test_read_memory_reads_this_process() -> None:
    memory = read_memory(os.getpid())
    assert memory.rss_mib > 10  # an interpreter with pytest loaded
    assert abs(memory.anon_mib + memory.file_mib - memory.rss_mib) <= 1.0  # shmem aside
    assert memory.peak_mib >= memory.rss_mib
    assert memory.threads >= 1


def _memory(rss: float) -> Memory:
    return Memory(rss_mib=rss, anon_mib=rss - 20, file_mib=20, peak_mib=rss + 5, threads=9)


def _result(*rss: float, total: int = 100_000, error: str = "") -> SoakResult:
    result = SoakResult(settings={}, started=_memory(60), error=error)
    for number, value in enumerate(rss):
        mode = "legacy" if number % 2 == 0 else "new"
        result.phases.append(Phase(mode, 40.0, total // len(rss), total, 0, _memory(value)))
    return result


def test_the_verdict_is_the_last_phase_against_the_target() -> None:
    settings = SoakSettings(requests=100_000, target_mib=80)
    assert verdict(_result(70, 79.9), settings) == "met"
    assert verdict(_result(70, 80.0), settings) == "missed"
    assert verdict(_result(70, 75, total=99_999), settings) == "incomplete"
    assert verdict(_result(70, 75, error="ServerError: gone"), settings) == "incomplete"
    assert verdict(_result(), settings) == "incomplete"


def test_the_report_has_a_row_per_phase_and_the_verdict(tmp_path: Path) -> None:
    settings = SoakSettings(requests=100_000, target_mib=80, command="python -m loadtest.soak")
    markdown = write_soak_report(_result(101.5, 110.25), settings, tmp_path).read_text()
    assert "| start |  | 0 | 0 | 0 | 60 |" in markdown
    assert "| phase 1 | legacy | 50,000 | 100,000 | 0 | 101.5 |" in markdown
    assert "| phase 2 | new | 50,000 | 100,000 | 0 | 110.25 |" in markdown
    assert "**110.25 MiB** (target: under 80 MiB): missed." in markdown
    data = json.loads((tmp_path / "soak.json").read_text())
    assert data["verdict"] == "missed" and data["final_rss_mib"] == 110.25
    assert [phase["mode"] for phase in data["phases"]] == ["legacy", "new"]


def test_a_short_soak_runs_both_modes_through_a_real_worker(tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "loadtest.soak",
        "--requests", "300", "--phase-seconds", "3", "--users", "4", "--no-pin",
        "--target-mib", "100000",
        "--report-dir", str(tmp_path / "reports"), "--work-dir", str(tmp_path / "work"),
    ]  # fmt: skip
    done = subprocess.run(
        command,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (folder,) = (tmp_path / "reports").iterdir()
    data = json.loads((folder / "soak.json").read_text())
    assert data["error"] == ""
    assert [phase["mode"] for phase in data["phases"]][:2] == ["legacy", "new"]
    assert data["total"] >= 300
    assert all(phase["requests"] > 0 and phase["failures"] == 0 for phase in data["phases"])
    assert data["total"] == sum(phase["requests"] for phase in data["phases"]) + _before(data)
    assert data["verdict"] == "met"  # against a target no worker misses
    assert data["final_rss_mib"] == data["phases"][-1]["memory"]["rss_mib"] > 30
    assert "Resident memory after" in (folder / "soak.md").read_text()


def _before(data: dict[str, object]) -> int:
    """Requests the worker answered before the first phase (the readiness probes)."""
    phases = data["phases"]
    assert isinstance(phases, list)
    first = phases[0]
    return int(first["total"]) - int(first["requests"])


def test_a_short_mixed_soak_reports_its_counts_and_memory(tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "loadtest.soak", "--shape", "mixed", "--short", "--no-pin",
        "--report-dir", str(tmp_path / "reports"), "--work-dir", str(tmp_path / "work"),
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (folder,) = (tmp_path / "reports").iterdir()
    data = json.loads((folder / "soak-mixed.json").read_text())
    assert data["shape"] == "mixed"
    assert data["routes"] == {
        "GET /api/v1/agents": "new",
        "GET /api/v1/status/jobs": "legacy",
        "GET /api/v1/agents/{agent_id}": "shadow",
    }
    assert data["error"] == ""
    # Every route was asked, every answer came from the side its mode names, none failed.
    assert set(data["by_route"]) == set(data["routes"])
    assert data["requests"] == sum(data["by_route"].values()) > 0
    assert data["failed"] == 0 and data["failures"] == {}
    assert data["capacity_requests"] > 0 and data["capacity_failed"] == 0
    assert data["capacity_rps"] > 0 and data["target_rps"] > 0
    assert data["shadow"].get("match", 0) + data["shadow"].get("mismatch", 0) > 0
    # Memory sampled through the run, a baseline after warm-up and a growth figure from it.
    assert len(data["memory"]) >= 2
    assert data["baseline_rss_mib"] > 0 and data["final_rss_mib"] > 0
    assert isinstance(data["growth_pct"], float)
    assert data["verdict"] in ("met", "missed")
    markdown = (folder / "soak-mixed.md").read_text()
    assert "| requests | failed |" in markdown and "--shape mixed" in markdown
