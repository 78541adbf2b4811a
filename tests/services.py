"""Fixtures for the real services the tests use: databases, the TWS simulator, free ports.

PostgreSQL and Redis are required when ``CI=true`` (a missing service fails the test); elsewhere
a test that needs one skips with the reason.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import structlog

import migrations

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_ADMIN_URL = os.environ.get(
    "RESYNC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("RESYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_structlog() -> Iterator[None]:
    """Give every test structlog's defaults back.

    Each app configures structlog for the whole process (level filter included), so without
    this a test that builds an app at WARNING would hide INFO lines from a later test's
    ``capture_logs()``.
    """
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def free_port() -> int:
    """Return a TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_service(name: str, reachable: bool, detail: str) -> None:
    """Skip (or, in CI, fail) a test whose service is not reachable."""
    if reachable:
        return
    message = f"{name} is not reachable ({detail})"
    if IN_CI:
        pytest.fail(f"{message}; CI=true requires it")
    pytest.skip(message)


def _postgres_reachable() -> tuple[bool, str]:
    import psycopg

    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=2):
            return True, ""
    except psycopg.Error as exc:
        return False, str(exc).strip()


def _redis_reachable() -> tuple[bool, str]:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        return True, ""
    except redis.RedisError as exc:
        return False, str(exc)


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The URL of the PostgreSQL maintenance database (skips or fails if unreachable)."""
    ok, detail = _postgres_reachable()
    require_service("PostgreSQL", ok, detail)
    return POSTGRES_ADMIN_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of a Redis database for tests (skips or fails if unreachable)."""
    ok, detail = _redis_reachable()
    require_service("Redis", ok, detail)
    return REDIS_URL


def create_postgres_database(admin_url: str) -> str:
    """Create an empty, uniquely named database and return its URL."""
    import psycopg

    name = f"resync_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_postgres_database(admin_url: str, url: str) -> None:
    """Drop a database made by :func:`create_postgres_database`, closing its sessions."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated and seeded database: a SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'resync.db'}"
        migrations.upgrade(url)
        migrations.seed(url, environment="test")
        yield url
        return
    admin_url = request.getfixturevalue("postgres_admin_url")
    url = create_postgres_database(admin_url)
    try:
        migrations.upgrade(url)
        migrations.seed(url, environment="test")
        yield url
    finally:
        drop_postgres_database(admin_url, url)


@dataclass
class TwsSim:
    """A running simulator process and a way to change its latency and faults."""

    base_url: str  # e.g. http://127.0.0.1:41234
    user: str = "twsuser"
    password: str = "twspass"

    @property
    def twsd_url(self) -> str:
        """The URL the apps use as ``RESYNC_TWS_URL``."""
        return f"{self.base_url}/twsd"

    def configure(self, **settings: float) -> dict[str, float]:
        """Change latency or fault settings (``latency_ms=20``, ``error_rate=1.0``...)."""
        response = httpx.put(f"{self.base_url}/_control", json=settings, timeout=5)
        response.raise_for_status()
        return dict(response.json())

    def reset(self) -> None:
        """Restore the default settings (no latency, no faults)."""
        httpx.post(f"{self.base_url}/_control/reset", timeout=5).raise_for_status()


def start_tws_sim(
    port: int | None = None, *, latency_ms: int = 0
) -> tuple[subprocess.Popen[bytes], TwsSim]:
    """Start ``python -m tws_sim`` on loopback and wait until it answers."""
    port = port or free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tws_sim",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--latency-ms",
            str(latency_ms),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sim = TwsSim(base_url=f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"tws_sim exited with {process.returncode}")
        try:
            if httpx.get(f"{sim.base_url}/_control/health", timeout=0.5).status_code == 200:
                return process, sim
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("tws_sim did not start within 15 s")


@pytest.fixture(scope="session")
def tws_sim_process() -> Iterator[TwsSim]:
    """One simulator process for the whole test session."""
    process, sim = start_tws_sim()
    try:
        yield sim
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def tws_sim(tws_sim_process: TwsSim) -> Iterator[TwsSim]:
    """The session's simulator, reset to no latency and no faults after each test."""
    tws_sim_process.reset()
    yield tws_sim_process
    tws_sim_process.reset()
