"""Fixtures for the dashboard's browser tests: a served proxy, admin helpers and headless Chromium.

One real Resync proxy process (``proxy.resync:create_resync_proxy`` under uvicorn on loopback,
both apps, the TWS simulator, a seeded temporary SQLite database and flag store) serves the whole
package: seeding hashes passwords with argon2, deliberately slow. Every test starts from the
same flag state because the ``proxy`` fixture pulls the kill switch through the admin API first.
Chromium is Debian's (``apt-get install chromium``), driven by Playwright's sync API; Playwright's
own browser downloads are never used.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import migrations
from tests.services import IN_CI, REPO_ROOT, TwsSim, free_port

CHROMIUM = os.environ.get("STRANGLER_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "dashboard"
SECRET = "resync-dev-secret-key-not-for-production-0001"
PASSWORDS = {
    "admin": "resync-admin-dev",
    "operator": "resync-operator-dev",
    "viewer": "resync-viewer-dev",
}
PROXY_FACTORY = "proxy.resync:create_resync_proxy"


@dataclass
class ProxyServer:
    """A proxy under uvicorn on loopback and an admin client for arranging and checking state."""

    base_url: str
    tokens: dict[str, str]

    @property
    def dashboard_url(self) -> str:
        return f"{self.base_url}/_strangler/"

    def headers(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the admin API as the admin and return the JSON body (raising on an error)."""
        response = httpx.request(
            method,
            f"{self.base_url}/_strangler/{path}",
            headers=self.headers(),
            timeout=10,
            **kwargs,
        )
        response.raise_for_status()
        return response.json()

    def routes(self) -> dict[str, dict[str, Any]]:
        return {item["route"]: item for item in self.admin("GET", "routes")["routes"]}

    def served_by(self, path: str, role: str = "viewer") -> str:
        """Which side answered a real request through the proxy (``X-Served-By``)."""
        response = httpx.get(f"{self.base_url}{path}", headers=self.headers(role), timeout=10)
        return response.headers.get("X-Served-By", "")

    def wait_served_by(self, path: str, side: str, timeout: float = 5.0) -> str:
        """Poll until ``path`` is answered by ``side`` (workers pick flag changes up by polling)."""
        deadline = time.monotonic() + timeout
        seen = self.served_by(path)
        while seen != side and time.monotonic() < deadline:
            time.sleep(0.1)
            seen = self.served_by(path)
        return seen


def _login(base_url: str, username: str, login_path: str = "/api/v1/auth/login") -> str:
    response = httpx.post(
        f"{base_url}{login_path}",
        json={"username": username, "password": PASSWORDS[username]},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def _wait_until_serving(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the proxy exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/_strangler/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the proxy did not start within 60 s:\n{log.read_text()}")


@pytest.fixture(scope="package")
def resync_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One seeded Resync database (SQLite file) for every proxy the package serves."""
    database_url = f"sqlite:///{tmp_path_factory.mktemp('dashboard-db') / 'resync.db'}"
    migrations.upgrade(database_url)
    migrations.seed(database_url, environment="test")
    return database_url


@contextlib.contextmanager
def serve_proxy(
    workdir: Path,
    database_url: str,
    tws_sim: TwsSim,
    *,
    factory: str = PROXY_FACTORY,
    login_path: str = "/api/v1/auth/login",
) -> Iterator[ProxyServer]:
    """Serve a proxy factory under a real uvicorn on loopback, with its own flag store."""
    port = free_port()
    env = {
        **os.environ,
        "RESYNC_ENV": "test",
        "RESYNC_SECRET_KEY": SECRET,
        "RESYNC_DATABASE_URL": database_url,
        "RESYNC_TWS_URL": tws_sim.twsd_url,
        "RESYNC_LOG_LEVEL": "WARNING",
        "STRANGLER_FLAG_STORE_URL": f"sqlite:///{workdir / 'flags.db'}",
        "STRANGLER_MISMATCH_DB": str(workdir / "mismatches.db"),
        "STRANGLER_POLL_INTERVAL": "0.1",
        "STRANGLER_ACCESS_LOG": "false",
    }
    env.pop("RESYNC_DRY_RUN_KEY", None)  # the proxy makes its own per process
    log = workdir / "proxy.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                factory,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(process, base_url, log)
        tokens = {role: _login(base_url, role, login_path) for role in PASSWORDS}
        yield ProxyServer(base_url=base_url, tokens=tokens)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="package")
def proxy_server(
    tmp_path_factory: pytest.TempPathFactory, resync_database: str, tws_sim_process: TwsSim
) -> Iterator[ProxyServer]:
    """Serve the Resync proxy under a real uvicorn on loopback, over a seeded SQLite file."""
    workdir = tmp_path_factory.mktemp("dashboard-proxy")
    with serve_proxy(workdir, resync_database, tws_sim_process) as server:
        yield server


@pytest.fixture
def proxy(proxy_server: ProxyServer, tws_sim: TwsSim) -> ProxyServer:
    """The package's proxy with every route back on legacy (the kill switch) before the test."""
    proxy_server.admin("POST", "kill-switch", json={"reason": "test setup: start from legacy"})
    return proxy_server


# ---------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Debian's Chromium; its absence fails in CI and skips elsewhere."""
    path = shutil.which(CHROMIUM) or (CHROMIUM if Path(CHROMIUM).is_file() else None)
    if path is None:
        message = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
        if IN_CI:
            pytest.fail(f"{message}; CI=true requires it")
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def browser(chromium_executable: str) -> Iterator[Any]:
    """One headless Chromium per module.

    Playwright's sync API keeps an asyncio loop running on this thread while it is open, so it
    must close before other modules' async tests run (``asyncio.run`` refuses a running loop).
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=chromium_executable, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page_factory(browser: Any) -> Iterator[Any]:
    """Open pages in fresh contexts (no shared sessionStorage), closed after the test.

    Uncaught exceptions and console errors (a CSP violation shows up there) fail the test at
    teardown; failed HTTP responses do not, as the page handles 401/403 by design.
    """
    contexts: list[Any] = []
    errors: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(f"console: {message.text}")

    def open_page(width: int = 1366, height: int = 900) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
        page.on("console", on_console)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert errors == [], "the page reported errors"


@pytest.fixture
def page(page_factory: Any) -> Any:
    """A laptop-sized page."""
    return page_factory()


def open_signed_in(page: Any, proxy: ProxyServer) -> Any:
    """Open the dashboard with the session's admin token already stored, as after a sign-in.

    Signing in through the form costs an argon2 verification; the tests about signing in use the
    form, the others start here.
    """
    page.add_init_script(
        f"sessionStorage.setItem('strangler.token', {json.dumps(proxy.tokens['admin'])});"
        "sessionStorage.setItem('strangler.user', 'admin');"
    )
    page.goto(proxy.dashboard_url)
    return page


def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot to ``test-artifacts/dashboard/`` for people to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
