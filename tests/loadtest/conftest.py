"""Fixtures for the load-test tests: a seeded database, a real server, and Locust as a process.

Locust monkey-patches the standard library with gevent when imported, so it never runs in the
pytest process: :func:`run_locust` starts ``python -m locust`` on the real locustfile.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import migrations
from loadtest.results import RequestStats, read_stats_csv
from loadtest.servers import REPO_ROOT, Server, server_command, server_environment
from tests.services import TwsSim, free_port

LOCUSTFILE = REPO_ROOT / "loadtest" / "locustfile.py"


@pytest.fixture(scope="session")
def seeded_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, seeded SQLite file to copy (seeding hashes passwords: do it once)."""
    path = tmp_path_factory.mktemp("loadtest-db") / "template.db"
    url = f"sqlite:///{path}"
    migrations.upgrade(url)
    migrations.seed(url, environment="test")
    return path


def start_server(kind: str, template: Path, sim: TwsSim, folder: Path) -> Server:
    """Serve the API as ``kind`` on a free loopback port with its own copy of the database."""
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "resync.db"
    shutil.copyfile(template, database)
    port = free_port()
    env = server_environment(
        database_url=f"sqlite:///{database}",
        tws_url=sim.twsd_url,
        extra={
            "RESYNC_ENV": "test",
            "STRANGLER_FLAG_STORE_URL": f"sqlite:///{folder / 'flags.db'}",
        },
    )
    command = server_command(kind, host="127.0.0.1", port=port, legacy_threads=4)
    return Server(command, env, f"http://127.0.0.1:{port}", folder / "server.log").start()


@pytest.fixture(scope="session")
def legacy_server(
    seeded_database: Path, tws_sim_process: TwsSim, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The legacy app under gunicorn, the server every smoke run loads."""
    server = start_server(
        "gunicorn", seeded_database, tws_sim_process, tmp_path_factory.mktemp("gunicorn")
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def new_server(
    seeded_database: Path, tws_sim_process: TwsSim, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The FastAPI app under uvicorn: the operator's checks must pass there too."""
    server = start_server(
        "uvicorn", seeded_database, tws_sim_process, tmp_path_factory.mktemp("uvicorn")
    )
    try:
        yield server
    finally:
        server.stop()


@dataclass
class LocustRun:
    """A finished Locust process: exit code, merged output, and its statistics CSV if any."""

    returncode: int
    output: str
    csv_prefix: Path

    @property
    def stats(self) -> dict[str, RequestStats]:
        """Rows of ``<prefix>_stats.csv`` keyed ``"GET /api/v1/agents"`` and ``Aggregated``."""
        return read_stats_csv(f"{self.csv_prefix}_stats.csv")


def locust_command(host: str, *args: str) -> list[str]:
    """``python -m locust`` on the project's locustfile, headless, against ``host``."""
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", host, *args]


@pytest.fixture
def run_locust(tmp_path: Path) -> Callable[..., LocustRun]:
    """Run Locust headless for a few seconds; return its exit code, output and statistics."""

    def run(
        host: str, *args: str, seconds: int = 6, users: int = 2, timeout: float = 90
    ) -> LocustRun:
        prefix = tmp_path / "run"
        command = locust_command(
            host, "--headless", "--users", str(users), "--spawn-rate", str(users),
            "--run-time", f"{seconds}s", "--stop-timeout", "5", "--csv", str(prefix), *args,
        )  # fmt: skip
        done = subprocess.run(
            command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
        return LocustRun(done.returncode, done.stdout + done.stderr, prefix)

    return run
