"""Workers share the flag store: a flip on one reaches the others, and an outage is survived."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.app import StranglerProxy
from tests.proxy.harness import make_proxy, make_settings, serve, set_mode
from tests.proxy.sample_apps import ADMIN
from tests.services import REPO_ROOT, free_port


def _poll(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def _start_worker(tmp_path: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start a sample proxy process (it is ready once :func:`_wait_ready` says so)."""
    port = free_port()
    env = {
        **os.environ,
        "STRANGLER_FLAG_STORE_URL": f"sqlite:///{tmp_path / 'store' / 'flags.db'}",
        "STRANGLER_FLAG_FILE": str(tmp_path / "flags.toml"),
        "STRANGLER_POLL_INTERVAL": "0.1",
        "STRANGLER_ACCESS_LOG": "false",
        "STRANGLER_LEGACY_THREADS": "4",
    }
    with (tmp_path / f"{name}.log").open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "tests.proxy.sample_factory:create_sample_proxy",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return process, f"http://127.0.0.1:{port}"


def _wait_ready(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    def up() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"worker exited: {log.read_text()}")
        try:
            return httpx.get(f"{base_url}/_strangler/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    if not _poll(up, timeout=60):
        process.kill()
        raise RuntimeError(f"worker did not start: {log.read_text()}")


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[str, str]]:
    make_settings(tmp_path)  # writes the flag file both workers import (only one will)
    started = []
    try:
        for name in ("a", "b"):
            started.append(_start_worker(tmp_path, name))
        for (process, base_url), name in zip(started, ("a", "b"), strict=True):
            _wait_ready(process, base_url, tmp_path / f"{name}.log")
        yield started[0][1], started[1][1]
    finally:
        for process, _ in started:
            process.terminate()
        for process, _ in started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def test_a_flip_on_one_worker_reaches_the_other(two_workers: tuple[str, str]) -> None:
    a, b = two_workers
    with httpx.Client(base_url=a, timeout=5) as on_a, httpx.Client(base_url=b, timeout=5) as on_b:
        assert on_b.get("/api/items").headers["x-served-by"] == "legacy"
        version = set_mode(on_a, "GET /api/items", "new")["version"]
        assert on_a.get("/api/items").headers["x-served-by"] == "new"  # at once where it was set
        started = time.monotonic()
        assert _poll(lambda: on_b.get("/api/items").headers["x-served-by"] == "new")
        elapsed = time.monotonic() - started
        assert on_b.get("/_strangler/health").json()["version"] == version
        # Both workers imported nothing twice: one import event per flag-file route.
        events = on_b.get("/_strangler/events", headers=ADMIN).json()
        assert events["total"] == 3
    print(f"flip propagated to the second worker in {elapsed * 1000:.0f} ms")


def _degraded(http: httpx.Client) -> bool:
    return http.get("/_strangler/health").json()["status"] == "degraded"


def test_workers_keep_serving_the_last_table_while_the_store_is_away(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, flag_store_url=f"sqlite:///{tmp_path / 'store' / 'flags.db'}"
    )
    proxy = make_proxy(settings)
    with serve(proxy) as url, httpx.Client(base_url=url, timeout=5) as http:
        set_mode(http, "GET /api/items", "new")
        store_dir = tmp_path / "store"
        store_dir.rename(tmp_path / "store-away")
        try:
            assert _poll(lambda: _degraded(http))
            assert http.get("/_strangler/health").json() == {
                "status": "degraded",
                "store": "unreachable",
                "version": 2,
                "worker": os.getpid(),
            }
            for _ in range(5):
                assert http.get("/api/items").headers["x-served-by"] == "new"
            assert "strangler_flag_store_up 0.0" in http.get("/metrics").text
            refused = http.post(
                "/_strangler/routes",
                json={"route": "GET /api/items", "mode": "legacy", "reason": "r"},
                headers=ADMIN,
            )
            assert refused.status_code == 503
            assert refused.json()["detail"] == "The flag store is unreachable."
        finally:
            (tmp_path / "store-away").rename(store_dir)
        assert _poll(lambda: not _degraded(http))
        set_mode(http, "GET /api/items", "legacy")
        assert http.get("/api/items").headers["x-served-by"] == "legacy"


def test_a_worker_starts_with_the_default_table_when_the_store_is_down(tmp_path: Path) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    proxy: StranglerProxy = make_proxy(make_settings(tmp_path, flag_store_url=dead))
    with serve(proxy) as url, httpx.Client(base_url=url, timeout=5) as http:
        assert http.get("/_strangler/health").json() == {
            "status": "degraded",
            "store": "unreachable",
            "version": 0,
            "worker": os.getpid(),
        }
        assert http.get("/api/items").headers["x-served-by"] == "legacy"
        assert http.get("/new-only").headers["x-served-by"] == "new"
