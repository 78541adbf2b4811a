"""Fixtures for the FastAPI app: seeded databases, started apps bound to the simulator, tokens.

Seeding hashes argon2 passwords, so read-mostly tests share a module-scoped database (a fresh
SQLite file, then a fresh PostgreSQL database); tests that need a pristine one use the shared
function-scoped ``database_url`` fixture. Demo users' hashes are re-made with tiny argon2id costs:
the app verifies a hash with the parameters it carries, so test logins are fast while the app
keeps argon2-cffi's defaults for new hashes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import migrations
from tests.resync_fastapi.harness import (
    AppHarness,
    cheapen_password_hashes,
    settings_for,
    tokens_for_demo_users,
)
from tests.services import TwsSim, create_postgres_database, drop_postgres_database


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated and seeded database shared by one test module (SQLite, then PostgreSQL)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fastapi') / 'resync.db'}"
        migrations.upgrade(url)
        migrations.seed(url, environment="test")
        cheapen_password_hashes(url)
        yield url
        return
    admin_url = request.getfixturevalue("postgres_admin_url")
    url = create_postgres_database(admin_url)
    try:
        migrations.upgrade(url)
        migrations.seed(url, environment="test")
        cheapen_password_hashes(url)
        yield url
    finally:
        drop_postgres_database(admin_url, url)


@pytest.fixture(scope="module")
def harness(module_database_url: str, tws_sim_process: TwsSim) -> Iterator[AppHarness]:
    """One started app per module on the module's database and the session's simulator."""
    with AppHarness(settings_for(module_database_url, tws_sim_process.twsd_url)) as started:
        yield started


@pytest.fixture
def fresh_harness(database_url: str, tws_sim_process: TwsSim) -> Iterator[AppHarness]:
    """A started app on a pristine database (the shared ``database_url`` fixture)."""
    cheapen_password_hashes(database_url)
    with AppHarness(settings_for(database_url, tws_sim_process.twsd_url)) as started:
        yield started


@pytest.fixture(scope="session")
def tokens() -> dict[str, str]:
    """An access token per seeded user (``admin``, ``operator``, ``viewer``)."""
    return tokens_for_demo_users()
