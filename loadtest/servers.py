"""Start and stop the servers under test: each app alone, or both behind the strangler proxy.

The commands are the documented ways to run each one (``Makefile``): the legacy app under
gunicorn (one sync worker with N threads), the FastAPI app under uvicorn (one process), the proxy
with ``resync-strangler serve``. Each server gets its own process group so that stopping it
stops its workers and nothing else, and may be pinned to one CPU core with ``taskset``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

__all__ = [
    "REPO_ROOT",
    "SERVER_KINDS",
    "Server",
    "ServerError",
    "pinned",
    "server_command",
    "server_environment",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVER_KINDS = ("gunicorn", "uvicorn", "proxy")
READY_PATH = "/health/live"


class ServerError(RuntimeError):
    """A server that would not start, or died; the message ends with its log's last lines."""


def _proxy_executable() -> list[str]:
    beside_python = Path(sys.executable).with_name("resync-strangler")
    if beside_python.exists():
        return [str(beside_python)]
    found = shutil.which("resync-strangler")
    if found:
        return [found]
    raise ServerError("resync-strangler is not installed (pip install -e . provides it)")


def _uvicorn_forwarded_options() -> list[str]:
    """X-Forwarded-For believed only from ``RESYNC_FORWARDED_ALLOW_IPS`` (empty: from nobody).

    uvicorn's default trusts 127.0.0.1, so every local client (Locust included) could choose
    the address the login lockout counts by.
    """
    allowed = os.environ.get("RESYNC_FORWARDED_ALLOW_IPS", "").strip()
    return ["--forwarded-allow-ips", allowed] if allowed else ["--no-proxy-headers"]


def server_command(kind: str, *, host: str, port: int, legacy_threads: int = 8) -> list[str]:
    """Return the command line that serves the Resync API as ``kind`` on ``host:port``."""
    if kind == "gunicorn":
        config = REPO_ROOT / "legacy_flask" / "gunicorn.conf.py"  # the app's own settings first
        return [
            sys.executable, "-m", "gunicorn",
            *(["--config", str(config)] if config.exists() else []),
            "--bind", f"{host}:{port}",
            "--workers", "1",
            "--worker-class", "gthread",
            "--threads", str(legacy_threads),
            "--graceful-timeout", "5",
            "legacy_flask:create_app()",
        ]  # fmt: skip
    if kind == "uvicorn":
        return [
            sys.executable, "-m", "uvicorn",
            "--factory", "resync_fastapi.main:create_app",
            "--host", host,
            "--port", str(port),
            "--no-access-log",
            "--timeout-graceful-shutdown", "5",
            *_uvicorn_forwarded_options(),
        ]  # fmt: skip
    if kind == "proxy":
        return [*_proxy_executable(), "serve", "--host", host, "--port", str(port)]
    raise ValueError(f"unknown server kind {kind!r}; known: {', '.join(SERVER_KINDS)}")


def pinned(command: Sequence[str], core: int | None) -> list[str]:
    """Prefix ``command`` with ``taskset -c core`` (``taskset`` execs it: same pid)."""
    return list(command) if core is None else ["taskset", "-c", str(core), *command]


def server_environment(
    *, database_url: str, tws_url: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Return the environment a server runs with: this one plus the Resync settings given."""
    env = dict(os.environ)
    env.update(
        {
            "RESYNC_DATABASE_URL": database_url,
            "RESYNC_TWS_URL": tws_url,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


@dataclass
class Server:
    """One server process (and its workers), started by :meth:`start`, stopped by :meth:`stop`."""

    command: list[str]
    env: dict[str, str]
    base_url: str
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The pid of the server's main process (gunicorn's arbiter, uvicorn, the proxy)."""
        assert self.process is not None, "server not started"
        return self.process.pid

    def start(self, *, timeout: float = 60.0) -> Server:
        """Start the server and wait until ``/health/live`` answers 200."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() reaches the workers
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(
                    f"{self.command[0]} exited with {self.process.returncode}\n{self.log_tail()}"
                )
            try:
                if httpx.get(self.base_url + READY_PATH, timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise ServerError(
            f"no answer on {self.base_url}{READY_PATH} within {timeout:g} s\n{self.log_tail()}"
        )

    def stop(self, *, timeout: float = 15.0) -> None:
        """Terminate the server's process group; kill it if it does not exit in time."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout)
        except ProcessLookupError:
            process.wait(timeout=timeout)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines the server wrote (for error messages)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
