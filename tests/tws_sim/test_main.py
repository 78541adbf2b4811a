"""``python -m tws_sim`` as its own process: seed and credentials from the command line and env."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.services import REPO_ROOT, free_port
from tws_sim.dataset import build_dataset


def start(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tws_sim", "--port", str(port), *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else b""
        try:
            if httpx.get(f"{base}/_control/health", timeout=0.5).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    process.communicate(timeout=10)
    raise AssertionError("tws_sim did not start")


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A process given its seed on the command line and its credentials in the environment."""
    env = {"TWS_SIM_SEED": "1", "TWS_SIM_USER": "ops", "TWS_SIM_PASSWORD": "s3cret-pw",
           "TWS_SIM_LATENCY_MS": "1"}  # fmt: skip
    process, base = start(["--seed", "7"], env)
    yield process, base
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)
    if process.stderr is not None:
        process.stderr.close()


def test_the_process_serves_the_seed_from_its_command_line(
    seeded: tuple[subprocess.Popen[bytes], str],
) -> None:
    _, base = seeded
    body = httpx.get(
        f"{base}/twsd/model/jobdefinition?limit=1000", auth=("ops", "s3cret-pw"), timeout=5
    ).json()
    assert body["items"] == build_dataset(7).jobs


def test_the_process_takes_credentials_and_latency_from_the_environment(
    seeded: tuple[subprocess.Popen[bytes], str],
) -> None:
    _, base = seeded
    assert (
        httpx.get(f"{base}/twsd/plan/current", auth=("ops", "s3cret-pw"), timeout=5).status_code
        == 200
    )
    default = httpx.get(f"{base}/twsd/plan/current", auth=("twsuser", "twspass"), timeout=5)
    assert default.status_code == 401
    assert httpx.get(f"{base}/_control", timeout=5).json()["latency_ms"] == 1.0


def test_the_process_logs_its_start_as_json_and_stops_cleanly_on_sigterm(
    seeded: tuple[subprocess.Popen[bytes], str],
) -> None:
    process, _ = seeded
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert process.stderr is not None
    output = process.stderr.read().decode()
    first = output.splitlines()[0]
    assert '"event": "tws_sim started"' in first
    assert '"seed": 7' in first
    assert "s3cret-pw" not in output


def test_a_bad_environment_stops_the_process_with_a_message() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tws_sim", "--port", str(free_port())],
        cwd=REPO_ROOT,
        env={**os.environ, "TWS_SIM_ERROR_RATE": "7"},
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert b"TWS_SIM_ERROR_RATE" in result.stderr or b"error_rate" in result.stderr
