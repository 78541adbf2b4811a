"""Run Locust distributed on loopback: one master and one worker process, a few seconds.

The master holds the aggregated statistics and judges the targets; the worker runs the users.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from loadtest.common.markers import TARGETS_MET
from loadtest.results import read_stats_csv
from loadtest.servers import REPO_ROOT, Server
from tests.loadtest.conftest import locust_command
from tests.services import free_port

SMOKE_TARGETS = str(REPO_ROOT / "loadtest" / "targets" / "smoke.toml")


def test_master_and_one_worker_on_loopback_run_and_judge_the_targets(
    legacy_server: Server, tmp_path: Path
) -> None:
    port = free_port()
    prefix = tmp_path / "distributed"
    master_options = (
        f"--master --master-bind-host 127.0.0.1 --master-bind-port {port} --expect-workers 1 "
        f"--expect-workers-max-wait 30 --headless --users 4 --spawn-rate 4 --run-time 4s "
        f"--csv {prefix} --targets {SMOKE_TARGETS} AgentsUser"
    )
    worker_options = f"--worker --master-host 127.0.0.1 --master-port {port} AgentsUser"
    master = subprocess.Popen(
        locust_command(legacy_server.base_url, *master_options.split()),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    worker = subprocess.Popen(
        locust_command(legacy_server.base_url, *worker_options.split()),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        master_output, _ = master.communicate(timeout=60)
        worker_output, _ = worker.communicate(timeout=30)
    finally:
        for process in (master, worker):
            if process.poll() is None:
                process.kill()
                process.wait()

    assert master.returncode == 0, master_output[-3000:]
    assert worker.returncode == 0, worker_output[-3000:]
    assert TARGETS_MET in master_output
    stats = read_stats_csv(f"{prefix}_stats.csv")
    assert stats["GET /api/v1/agents"].requests > 0  # the master runs no users: the worker did
    assert stats["Aggregated"].failures == 0
