"""One transaction per request: commit on success, roll back on error and in a dry run."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from flask import Flask

from legacy_flask.database import create_database_engine, engine_url
from tests.legacy_flask.conftest import AppFactory
from tests.legacy_flask.harness import assert_problem, auth, query, snapshot
from tests.services import TwsSim

DRY_RUN_KEY = "shadow-key-123"


@pytest.fixture
def dry_run_app(make_app: AppFactory, fresh_database_url: str) -> Flask:
    return make_app(fresh_database_url, DRY_RUN_KEY=DRY_RUN_KEY)


WRITES = [
    pytest.param(
        "POST",
        "/api/v1/chat",
        {"json": {"agent_id": "tws-general", "message": "hi"}},
        "operator",
        200,
        id="chat-with-audit-item",
    ),
    pytest.param(
        "POST",
        "/api/v1/audit/review",
        {"json": {"memory_id": "seed-0002", "action": "approve"}},
        "operator",
        200,
        id="review",
    ),
    pytest.param(
        "POST",
        "/api/v1/users",
        {"json": {"username": "dry-user", "password": "long-enough-pass", "role": "viewer"}},
        "admin",
        201,
        id="create-user",
    ),
    pytest.param(
        "POST",
        "/api/v1/rag/upload",
        {"upload": b"dry run words"},
        "operator",
        201,
        id="upload",
    ),
    pytest.param(
        "DELETE",
        "/api/v1/rag/files/4242917b-403d-52d0-97fe-3f753f0d352a",
        {},
        "admin",
        204,
        id="delete-file",
    ),
    pytest.param(
        "POST",
        "/api/v1/auth/login",
        {"json": {"username": "viewer", "password": "wrong-password"}},
        None,
        401,
        id="failed-login-attempt",
    ),
    pytest.param(
        "POST",
        "/api/v1/auth/login",
        {"json": {"username": "viewer", "password": "resync-viewer-dev"}},
        None,
        200,
        id="login-success-record",
    ),
    pytest.param("POST", "/api/v1/auth/logout", {}, "viewer", 204, id="logout"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "role", "status"), WRITES)
def test_dry_run_rolls_back(
    dry_run_app: Flask,
    fresh_database_url: str,
    tws_sim: TwsSim,
    method: str,
    path: str,
    kwargs: dict[str, object],
    role: str | None,
    status: int,
) -> None:
    if "upload" in kwargs:  # a fresh stream per run: the client closes it
        kwargs = {"data": {"file": (io.BytesIO(kwargs["upload"]), "dry.txt")}}  # type: ignore[arg-type]
    before = snapshot(fresh_database_url)
    response = dry_run_app.test_client().open(
        path, method=method, headers={**auth(role), "X-Resync-Dry-Run": DRY_RUN_KEY}, **kwargs
    )
    assert response.status_code == status, response.get_data(as_text=True)
    assert snapshot(fresh_database_url) == before


@pytest.mark.parametrize(
    ("configured", "offered"),
    [
        pytest.param(DRY_RUN_KEY, "wrong-key", id="wrong-key"),
        pytest.param(None, "anything", id="dry-run-disabled"),
        pytest.param("", "", id="empty-key-disables"),
    ],
)
def test_dry_run_header_is_ignored_otherwise(
    make_app: AppFactory,
    fresh_database_url: str,
    tws_sim: TwsSim,
    configured: str | None,
    offered: str,
) -> None:
    app = make_app(fresh_database_url, DRY_RUN_KEY=configured)
    response = app.test_client().post(
        "/api/v1/chat",
        json={"agent_id": "tws-general", "message": "hello"},
        headers={**auth("operator"), "X-Resync-Dry-Run": offered},
    )
    assert response.status_code == 200
    message_id = response.get_json()["id"]
    assert query(fresh_database_url, "SELECT 1 FROM chat_messages WHERE id = :i", i=message_id)


def test_error_after_a_write_rolls_back(
    make_app: AppFactory, fresh_database_url: str, tws_sim: TwsSim
) -> None:
    app = make_app(fresh_database_url)

    def write_then_fail() -> str:
        from legacy_flask.database import db

        db().execute(sa.text("DELETE FROM audit_items"))
        raise RuntimeError("boom")

    app.add_url_rule("/api/v1/fail", "fail", write_then_fail, provide_automatic_options=False)
    before = snapshot(fresh_database_url)
    assert_problem(app.test_client().get("/api/v1/fail"), 500, "internal")
    assert snapshot(fresh_database_url) == before


def test_engine_url_maps_postgresql_to_psycopg() -> None:
    assert engine_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert engine_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert engine_url("sqlite:///x.db") == "sqlite:///x.db"


def test_sqlite_connections_get_the_pragmas(tmp_path: object) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path}/p.db")
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(sa.text("PRAGMA busy_timeout")).scalar() == 5000
            assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        engine.dispose()


def test_database_url_fixture_works_with_the_app(
    make_app: AppFactory, database_url: str, tws_sim: TwsSim
) -> None:
    """The shared, freshly seeded database serves the app unchanged (argon2 defaults intact)."""
    client = make_app(database_url).test_client()
    response = client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": "resync-admin-dev"}
    )
    assert response.status_code == 200
    token = response.get_json()["access_token"]
    metrics = client.get("/api/v1/audit/metrics", headers={"Authorization": f"Bearer {token}"})
    assert metrics.get_json() == {"pending": 14, "approved": 9, "rejected": 7, "total": 30}


def test_the_pool_is_sized_by_the_settings_on_sqlite_too(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from legacy_flask import create_app
    from legacy_flask.app_state import EXTENSION_KEY

    monkeypatch.setenv("RESYNC_DB_POOL_SIZE", "3")
    monkeypatch.setenv("RESYNC_DB_MAX_OVERFLOW", "1")
    monkeypatch.setenv("RESYNC_DB_POOL_TIMEOUT", "0.5")
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/p.db"})
    pool = app.extensions[EXTENSION_KEY].engine.pool
    assert (pool.size(), pool._max_overflow, pool._timeout) == (3, 1, 0.5)
    app.extensions[EXTENSION_KEY].engine.dispose()


@pytest.mark.parametrize(
    ("name", "value"),
    [("DB_POOL_SIZE", "0"), ("DB_MAX_OVERFLOW", "-1"), ("DB_POOL_TIMEOUT", "0")],
)
def test_a_pool_setting_out_of_range_is_refused(name: str, value: str) -> None:
    from legacy_flask.config import load_settings
    from legacy_flask.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="RESYNC_DB_POOL_SIZE"):
        load_settings(environ={f"RESYNC_{name}": value})
