"""Fixtures for the legacy app: seeded databases, apps bound to the simulator, tokens, snapshots.

Seeding hashes three argon2 passwords, so the database is migrated and seeded once per session
and backend, then copied: each test module gets its own copy (a SQLite backup, a PostgreSQL
``CREATE DATABASE ... TEMPLATE``), and a test that needs a pristine one takes
``fresh_database_url``.
The seeded users' hashes are then re-made with tiny argon2id parameters: the app verifies any
argon2id hash with the parameters the hash carries, so logins in tests take a millisecond while
the app itself keeps argon2-cffi's defaults.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import migrations
from legacy_flask import create_app
from tests.legacy_flask.harness import SECRET, cheapen_password_hashes
from tests.services import TwsSim, create_postgres_database, drop_postgres_database

AppFactory = Callable[..., Flask]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, seeded SQLite file that module databases are copied from."""
    path = tmp_path_factory.mktemp("legacy-template") / "template.db"
    url = f"sqlite:///{path}"
    migrations.upgrade(url)
    migrations.seed(url, environment="test")
    cheapen_password_hashes(url)
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_admin_url: str) -> Iterator[str]:
    """A migrated, seeded PostgreSQL database that module databases are cloned from."""
    url = create_postgres_database(postgres_admin_url)
    try:
        migrations.upgrade(url)
        migrations.seed(url, environment="test")
        cheapen_password_hashes(url)
        yield url
    finally:
        drop_postgres_database(postgres_admin_url, url)


def _copy_sqlite(template: Path, target: Path) -> str:
    source, copy = sqlite3.connect(template), sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        source.close()
        copy.close()
    return f"sqlite:///{target}"


def _clone_postgres(admin_url: str, template_url: str) -> str:
    import psycopg

    name = f"resync_test_{uuid.uuid4().hex[:12]}"
    template = template_url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def _database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Copy the session's seeded template for ``backend`` and drop the copy afterwards."""
    if backend == "sqlite":
        yield _copy_sqlite(request.getfixturevalue("sqlite_template"), tmp_path / "resync.db")
        return
    admin_url = request.getfixturevalue("postgres_admin_url")
    url = _clone_postgres(admin_url, request.getfixturevalue("postgres_template"))
    try:
        yield url
    finally:
        drop_postgres_database(admin_url, url)


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=BACKENDS)
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A seeded database of its own for one test module (SQLite, then PostgreSQL)."""
    yield from _database(request.param, request, tmp_path_factory.mktemp("legacy"))


@pytest.fixture
def fresh_database_url(
    module_database_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[str]:
    """A pristine seeded database for one test, on the same backend as the module's."""
    backend = "postgresql" if module_database_url.startswith("postgresql") else "sqlite"
    yield from _database(backend, request, tmp_path)


class ClosingClient(FlaskClient):
    """A test client that buffers and closes each response unless asked to stream.

    Closing is what releases the request's input stream (a temporary file for big uploads)
    and what runs the app's end-of-response work (the access log line).
    """

    def open(self, *args: Any, buffered: bool = True, **kwargs: Any) -> Any:
        response = super().open(*args, buffered=buffered, **kwargs)
        # Werkzeug only ties the input stream to the response when following redirects.
        response.call_on_close(response.request.input_stream.close)
        if buffered:
            response.close()
        return response


def _build(database_url: str, tws_url: str, overrides: dict[str, Any]) -> Flask:
    config: dict[str, Any] = {
        "ENV": "test",
        "DATABASE_URL": database_url,
        "TWS_URL": tws_url,
        "SECRET_KEY": SECRET,
        "TWS_TIMEOUT": 5.0,
    }
    config.update(overrides)
    app = create_app(config)
    app.test_client_class = ClosingClient
    return app


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
