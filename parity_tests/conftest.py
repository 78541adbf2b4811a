"""Fixtures for the differential suite: one seeded template per backend, copies per side, apps.

Each backend (SQLite, then PostgreSQL) is seeded once per session; tokens are issued by logging
in on the template through each app (so copies hold the same login rows). Read-only scenarios
share one copy per side for the session; any scenario that may write gets two fresh copies.
Both apps run with the same settings and the same TWS simulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from parity_tests.credentials import Credentials, TokenPair
from parity_tests.databases import DatabaseCopies
from parity_tests.sides import AsgiSide, LoopThread, WsgiSide
from proxy.shadow.comparator import Comparator
from proxy.shadow.rules import load_rules
from resync_scenarios import ROLES
from tests.services import TwsSim

SECRET_KEY = "resync-dev-secret-key-not-for-production-0001"
DRY_RUN_KEY = "parity-dry-run-key-0123456789abcdef"
RAG_MAX_BYTES = 64 * 1024
TWS_TIMEOUT = 1.0


def legacy_app(database_url: str, sim: TwsSim) -> Any:
    """Build the legacy Flask app on ``database_url``."""
    from legacy_flask import create_app

    return create_app(
        {
            "ENV": "test",
            "SECRET_KEY": SECRET_KEY,
            "DATABASE_URL": database_url,
            "TWS_URL": sim.twsd_url,
            "TWS_USER": sim.user,
            "TWS_PASSWORD": sim.password,
            "TWS_TIMEOUT": TWS_TIMEOUT,
            "RAG_MAX_BYTES": RAG_MAX_BYTES,
            "DRY_RUN_KEY": DRY_RUN_KEY,
            "LOG_LEVEL": "WARNING",
        }
    )


def new_app(database_url: str, sim: TwsSim) -> Any:
    """Build the FastAPI app on ``database_url``."""
    from resync_fastapi.core.config import Settings
    from resync_fastapi.main import create_app

    return create_app(
        Settings(
            env="test",
            secret_key=SECRET_KEY,
            database_url=database_url,
            tws_url=sim.twsd_url,
            tws_user=sim.user,
            tws_password=sim.password,
            tws_timeout=TWS_TIMEOUT,
            rag_max_bytes=RAG_MAX_BYTES,
            dry_run_key=DRY_RUN_KEY,
            log_level="WARNING",
        )
    )


class LegacySide(WsgiSide):
    """The legacy app on its own database copy."""

    def __init__(self, database_url: str, sim: TwsSim) -> None:
        super().__init__("legacy", legacy_app(database_url, sim))

    def close(self) -> None:
        super().close()
        from legacy_flask.app_state import EXTENSION_KEY

        self.app.extensions[EXTENSION_KEY].close()


class NewSide(AsgiSide):
    """The FastAPI app on its own database copy, lifespan running."""

    def __init__(self, database_url: str, sim: TwsSim, loop: LoopThread) -> None:
        super().__init__("new", new_app(database_url, sim), loop)


@dataclass
class ParityEnv:
    """One backend's template, the run's credentials and what every side needs."""

    backend: str
    copies: DatabaseCopies
    credentials: Credentials
    sim: TwsSim
    loop: LoopThread
    comparator: Comparator

    def open_pair(self, label: str) -> tuple[LegacySide, NewSide, str, str]:
        """Copy the template twice and start an app on each copy."""
        legacy_url, new_url = self.copies.copy(f"{label}-legacy"), self.copies.copy(f"{label}-new")
        legacy = LegacySide(legacy_url, self.sim)
        try:
            new = NewSide(new_url, self.sim, self.loop)
        except BaseException:
            legacy.close()
            raise
        return legacy, new, legacy_url, new_url

    def close_pair(self, legacy: LegacySide, new: NewSide, *urls: str) -> None:
        """Stop both apps and drop their copies."""
        try:
            legacy.close()
            new.close()
        finally:
            for url in urls:
                self.copies.drop(url)


def _login(side: WsgiSide | AsgiSide, role: str) -> TokenPair:
    request = httpx.Request(
        "POST",
        "http://testserver/api/v1/auth/login",
        json={"username": role, "password": f"resync-{role}-dev"},
    )
    answer = side.send(request)
    if answer.status != 200:
        raise RuntimeError(f"{side.name} login as {role} failed: {answer.status} {answer.body!r}")
    import json

    body = json.loads(answer.body)
    return TokenPair(body["access_token"], body["refresh_token"])


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    """The event loop the FastAPI apps run on."""
    loop = LoopThread()
    yield loop
    loop.close()


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def parity_env(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    tws_sim_process: TwsSim,
    loop_thread: LoopThread,
) -> Iterator[ParityEnv]:
    """A seeded template on one backend and tokens issued by both apps."""
    backend = request.param
    admin_url = request.getfixturevalue("postgres_admin_url") if backend == "postgresql" else None
    workdir: Path = tmp_path_factory.mktemp(f"parity-{backend}")
    copies = DatabaseCopies.create(backend, workdir, admin_url)
    try:
        credentials = Credentials(SECRET_KEY)
        legacy = LegacySide(copies.template_url, tws_sim_process)
        try:
            for role in ROLES:
                credentials.pairs[role] = _login(legacy, role)
        finally:
            legacy.close()
        new = NewSide(copies.template_url, tws_sim_process, loop_thread)
        try:
            for role in ROLES:
                try:
                    credentials.pairs[f"{role}@new"] = _login(new, role)
                except RuntimeError as exc:
                    # Scenarios that need this token fail with the reason; the rest still run.
                    credentials.unavailable[f"{role}@new"] = str(exc)
        finally:
            new.close()
        credentials.mint_broken()
        yield ParityEnv(
            backend, copies, credentials, tws_sim_process, loop_thread, Comparator(load_rules())
        )
    finally:
        copies.close()


@pytest.fixture(scope="session")
def read_pair(parity_env: ParityEnv) -> Iterator[tuple[LegacySide, NewSide]]:
    """Both apps on their own copies, shared by every read-only scenario of the backend."""
    legacy, new, *urls = parity_env.open_pair("read")
    yield legacy, new
    parity_env.close_pair(legacy, new, *urls)


@dataclass
class WritePair:
    """Both apps on their own copies, restored to the template before each scenario."""

    legacy: LegacySide
    new: NewSide
    legacy_url: str
    new_url: str

    def restore(self, copies: DatabaseCopies) -> None:
        """Make both copies identical to the freshly seeded template again."""
        copies.restore(self.legacy_url)
        copies.restore(self.new_url)


@pytest.fixture(scope="session")
def write_pair(parity_env: ParityEnv) -> Iterator[WritePair]:
    """The apps every scenario that may write runs on (fresh database contents each time)."""
    legacy, new, legacy_url, new_url = parity_env.open_pair("write")
    yield WritePair(legacy, new, legacy_url, new_url)
    parity_env.close_pair(legacy, new, legacy_url, new_url)
