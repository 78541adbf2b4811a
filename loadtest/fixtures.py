"""What the load runs set up around a server: ports, the seeded template and its copies, the TWS
simulator, sign-in and the bench users, core pinning and the dated report folder.

Shared by the bench (``loadtest/bench.py``), the soak (``loadtest/soak.py``), the propagation
run (``loadtest/propagation.py``) and the namespaced hosts (``loadtest/netns.py``), so that none
of them imports another for these.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from loadtest.servers import (
    REPO_ROOT,
    Server,
    ServerError,
    pinned,
    server_command,
    server_environment,
)
from loadtest.settings import BenchSettings

__all__ = [
    "ADMIN_PASSWORD",
    "BENCH_PASSWORD",
    "BenchUsers",
    "checkpoint",
    "copy_database",
    "create_bench_users",
    "free_port",
    "issue_tokens",
    "launch_simulator",
    "pin_self",
    "report_folder",
    "seed_template",
    "sign_in",
    "start_simulator",
]

BENCH_PASSWORD = "resync-bench-password-0001"  # a throwaway user in a throwaway copy
ADMIN_PASSWORD = os.environ.get("RESYNC_DEMO_ADMIN_PASSWORD", "resync-admin-dev")


def _say(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def free_port() -> int:
    """Return a loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- fixtures: database, simulator, bench users ------------------------------------------------


def seed_template(path: Path) -> str:
    """Create a migrated, seeded SQLite database at ``path``; return its URL."""
    import migrations  # the shared schema; imported here so --help works without a database

    url = f"sqlite:///{path}"
    migrations.upgrade(url)
    migrations.seed(url, environment="development")
    return url


def checkpoint(path: Path) -> None:
    """Fold the WAL into the database file so that copying the file copies everything."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def copy_database(template: Path, target: Path) -> str:
    """Copy a checkpointed database file; return the copy's URL."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


def start_simulator(settings: BenchSettings, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``python -m tws_sim`` at the chosen latency on the client core; return it, its URL."""
    return launch_simulator(settings.latency_ms, settings.client_core, log_path)


def launch_simulator(
    latency_ms: int, core: int | None, log_path: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``python -m tws_sim`` at ``latency_ms`` pinned to ``core``; return it, its URL."""
    port = free_port()
    command = [sys.executable, "-m", "tws_sim", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--latency-ms", str(latency_ms)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            pinned(command, core),
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"tws_sim exited with {process.returncode}; see {log_path}")
        try:
            if httpx.get(f"{base}/_control/health", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise ServerError("tws_sim did not answer within 30 s")


def sign_in(base_url: str, username: str, password: str) -> dict[str, str]:
    """Return bearer headers for ``username`` (raises on failure)."""
    response = httpx.post(
        f"{base_url}/api/v1/auth/login",
        json={"username": username, "password": password},
        timeout=30,
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def create_bench_users(base_url: str, count: int) -> None:
    """Add operators ``bench001``.. through ``POST /api/v1/users`` (one argon2 hash each)."""
    admin = sign_in(base_url, "admin", ADMIN_PASSWORD)
    with httpx.Client(base_url=base_url, headers=admin, timeout=60) as client:
        for n in range(1, count + 1):
            body = {"username": f"bench{n:03d}", "password": BENCH_PASSWORD, "role": "operator"}
            response = client.post("/api/v1/users", json=body)
            if response.status_code not in (201, 409):
                refused = f"{response.status_code} {response.text[:200]}"
                raise ServerError(f"creating bench{n:03d}: {refused}")


def issue_tokens(base_url: str, count: int, path: Path) -> None:
    """Sign every bench user in once; write ``username<TAB>access_token`` lines to ``path``."""

    def token(n: int) -> str:
        username = f"bench{n:03d}"
        return f"{username}\t{sign_in(base_url, username, BENCH_PASSWORD)['Authorization'][7:]}"

    with ThreadPoolExecutor(max_workers=4) as pool:
        lines = list(pool.map(token, range(1, count + 1)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass
class BenchUsers:
    """The bench users in the template database and access tokens for them.

    Signing in costs an argon2 verification (CPU and 64 MiB): done here, on an unpinned setup
    server, so that no measured server signs anyone in. Access tokens last 30 minutes; they are
    issued again when older than :attr:`max_age` seconds.
    """

    template: Path
    tws_url: str
    work: Path
    count: int
    kind: str
    max_age: float = 20 * 60
    tokens_file: Path | None = None
    issued_at: float = 0.0
    database_url: str = ""  # the template's URL when it is not the SQLite file ``template``

    @property
    def url(self) -> str:
        """The template database's URL."""
        return self.database_url or f"sqlite:///{self.template}"

    def _serve(self, log_name: str) -> Server:
        port = free_port()
        env = server_environment(database_url=self.url, tws_url=self.tws_url)
        command = server_command(self.kind, host="127.0.0.1", port=port)
        return Server(command, env, f"http://127.0.0.1:{port}", self.work / log_name)

    def prepare(self) -> Path:
        """Create the users, issue their tokens, fold the WAL into the template."""
        with self._serve("setup.log") as server:
            _say(f"adding {self.count} bench users through {self.kind} and signing them in")
            create_bench_users(server.base_url, self.count)
            self._issue(server.base_url)
        if self.url.startswith("sqlite"):
            checkpoint(self.template)
        assert self.tokens_file is not None
        return self.tokens_file

    def fresh(self) -> Path:
        """The tokens file, re-issued first if the tokens are getting old."""
        if self.tokens_file is None or time.monotonic() - self.issued_at > self.max_age:
            with self._serve("tokens.log") as server:
                _say("issuing fresh access tokens")
                self._issue(server.base_url)
        assert self.tokens_file is not None
        return self.tokens_file

    def sign_in_admin(self) -> dict[str, str]:
        """Bearer headers for the demo admin, signed in on a setup server (argon2 stays off the
        measured one)."""
        with self._serve("admin.log") as server:
            return sign_in(server.base_url, "admin", ADMIN_PASSWORD)

    def _issue(self, base_url: str) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        self.tokens_file = self.work / "tokens.tsv"
        issue_tokens(base_url, self.count, self.tokens_file)
        self.issued_at = time.monotonic()


def pin_self(core: int | None) -> None:
    """Pin this process (the runner, with the load) to ``core``; ``None`` leaves it free."""
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})


def report_folder(report_dir: Path, label: str, stamp: datetime) -> Path:
    """``<report_dir>/<YYYY-MM-DD>[-label]``: where a run's report goes."""
    return report_dir / "-".join(filter(None, [f"{stamp:%Y-%m-%d}", label]))
