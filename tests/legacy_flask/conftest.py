"""Fixtures for the legacy app: seeded databases, apps bound to the simulator, tokens, snapshots.

Seeding hashes three argon2 passwords, so databases are module-scoped where tests can share one
(each module still gets a fresh SQLite file and, when reachable, a fresh PostgreSQL database);
tests that need a pristine database use the shared function-scoped ``database_url`` fixture.
The seeded users' hashes are then re-made with tiny argon2id parameters: the app verifies any
argon2id hash with the parameters the hash carries, so logins in tests take a millisecond while
the app itself keeps argon2-cffi's defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import migrations
from legacy_flask import create_app
from tests.legacy_flask.harness import SECRET, cheapen_password_hashes
from tests.services import TwsSim, create_postgres_database, drop_postgres_database

AppFactory = Callable[..., Flask]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated and seeded database shared by one test module (SQLite, then PostgreSQL)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('legacy') / 'resync.db'}"
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


def _build(database_url: str, tws_url: str, overrides: dict[str, Any]) -> Flask:
    config: dict[str, Any] = {
        "ENV": "test",
        "DATABASE_URL": database_url,
        "TWS_URL": tws_url,
        "SECRET_KEY": SECRET,
        "TWS_TIMEOUT": 5.0,
    }
    config.update(overrides)
    return create_app(config)


def _close(app: Flask) -> None:
    app.extensions["resync_legacy"].close()


@pytest.fixture(scope="module")
def app(module_database_url: str, tws_sim_process: TwsSim) -> Iterator[Flask]:
    """One app per module on the module's database, talking to the session's simulator."""
    built = _build(module_database_url, tws_sim_process.twsd_url, {})
    yield built
    _close(built)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_app(tws_sim_process: TwsSim) -> Iterator[AppFactory]:
    """Build extra apps (other settings, other databases); all are closed after the test."""
    built: list[Flask] = []

    def factory(database_url: str, **overrides: Any) -> Flask:
        overrides.setdefault("TWS_URL", tws_sim_process.twsd_url)
        new_app = _build(database_url, overrides.pop("TWS_URL"), overrides)
        built.append(new_app)
        return new_app

    yield factory
    for each in built:
        _close(each)


@pytest.fixture
def db_path(module_database_url: str) -> str:
    return module_database_url
