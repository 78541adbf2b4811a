"""Run ``resync-strangler serve`` for real (both Resync apps, uvicorn, loopback) for a test.

Used by the hardening tests, which must see what a client of the real server sees: the
forwarded-header trust uvicorn is started with, the request limits, and the log lines the whole
process writes (stdout and stderr are kept in ``log_path``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

import migrations
from tests.services import REPO_ROOT, free_port

SECRET = "resync-dev-secret-key-not-for-production-0001"  # the development default
PASSWORDS = {
    "admin": "resync-admin-dev",
    "operator": "resync-operator-dev",
    "viewer": "resync-viewer-dev",
}


@dataclass
class ResyncServer:
    """A running ``resync-strangler serve`` and an admin token for it."""

    base_url: str
    port: int
    log_path: Path
    database_url: str
    admin_token: str = ""

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def login(self, username: str, password: str | None = None, **headers: str) -> httpx.Response:
        return httpx.post(
            f"{self.base_url}/api/v1/auth/login",
            json={"username": username, "password": password or PASSWORDS[username]},
            headers=headers,
            timeout=30,
        )

    def all_routes(self, side: str) -> None:
        """Put every route both apps serve on ``side`` (``legacy`` or ``new``)."""
        path = "/_strangler/kill-switch" if side == "legacy" else "/_strangler/routes/bulk"
        body: dict[str, Any] = {"reason": f"test: all {side}"}
        if side != "legacy":
            body["mode"] = side
        response = httpx.post(self.base_url + path, json=body, headers=self.admin, timeout=10)
        response.raise_for_status()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # one worker: applied at once, but poll anyway
            served = httpx.get(f"{self.base_url}/health/live", timeout=5)
            if served.headers.get("x-served-by") == side:
                return
            time.sleep(0.05)
        raise AssertionError(f"routes did not move to {side}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, needle: str, timeout: float = 10.0) -> str:
        """Return the log once it contains ``needle`` (lines are flushed every 0.5 s)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_text()
            if needle in text or time.monotonic() > deadline:
                return text
            time.sleep(0.1)

    def raw(self, data: bytes, *, timeout: float = 10.0) -> bytes:
        """Send raw bytes on a fresh connection; return everything read until it closes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(data)
            return read_until_closed(sock)


def read_until_closed(sock: socket.socket) -> bytes:
    chunks = []
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def seeded_database(folder: Path) -> str:
    url = f"sqlite:///{folder / 'resync.db'}"
    migrations.upgrade(url)
    migrations.seed(url, environment="test")
    return url


@contextlib.contextmanager
def resync_serve(folder: Path, tws_url: str, **settings: str) -> Iterator[ResyncServer]:
    """Start ``resync-strangler serve`` over a fresh seeded database in ``folder``."""
    database_url = seeded_database(folder)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRANGLER_", "RESYNC_"))}
    env.update(
        {
            "RESYNC_ENV": "test",
            "RESYNC_SECRET_KEY": SECRET,
            "RESYNC_DATABASE_URL": database_url,
            "RESYNC_TWS_URL": tws_url,
            "STRANGLER_FLAG_STORE_URL": f"sqlite:///{folder / 'flags.db'}",
            "STRANGLER_MISMATCH_DB": str(folder / "mismatches.db"),
            "STRANGLER_POLL_INTERVAL": "0.1",
            "STRANGLER_LEGACY_THREADS": "4",
            **settings,
        }
    )
    log_path = folder / "serve.log"
    executable = Path(sys.executable).with_name("resync-strangler")
    with log_path.open("wb") as sink:
        process = subprocess.Popen(
            [str(executable), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = ResyncServer(f"http://127.0.0.1:{port}", port, log_path, database_url)
    try:
        _wait_until_serving(process, server)
        server.admin_token = server.login("admin").json()["access_token"]
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_until_serving(process: subprocess.Popen[bytes], server: ResyncServer) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited with {process.returncode}:\n{server.log_text()}")
        try:
            if httpx.get(f"{server.base_url}/_strangler/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"serve did not start within 60 s:\n{server.log_text()}")
