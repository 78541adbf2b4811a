"""Liveness and readiness."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from tests.legacy_flask.conftest import AppFactory
from tests.legacy_flask.harness import assert_problem
from tests.services import TwsSim, free_port


def test_live_needs_nothing(make_app: AppFactory, tmp_path: Path) -> None:
    client = make_app(
        f"sqlite:///{tmp_path / 'missing' / 'nowhere.db'}",
        TWS_URL=f"http://127.0.0.1:{free_port()}/twsd",
    ).test_client()
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.data == b'{"status":"ok"}'


def test_ready(client: FlaskClient, tws_sim: TwsSim) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.data == b'{"status":"ready","checks":{"database":"ok","tws":"ok"}}'


def test_not_ready_when_tws_is_down(make_app: AppFactory, db_path: str) -> None:
    client = make_app(db_path, TWS_URL=f"http://127.0.0.1:{free_port()}/twsd").test_client()
    body = assert_problem(client.get("/health/ready"), 503, "unavailable")
    assert body["title"] == "Service unavailable"
    assert body["checks"] == {"database": "ok", "tws": "error"}
    assert list(body)[-1] == "checks"


def test_not_ready_when_tws_fails(client: FlaskClient, tws_sim: TwsSim) -> None:
    tws_sim.configure(error_rate=1.0)
    body = assert_problem(client.get("/health/ready"), 503, "unavailable")
    assert body["checks"] == {"database": "ok", "tws": "error"}


def test_not_ready_when_the_database_is_unreachable(
    make_app: AppFactory, tmp_path: Path, tws_sim: TwsSim
) -> None:
    # A directory that does not exist: SQLite cannot open the file.
    url = f"sqlite:///{tmp_path / 'missing' / 'nowhere.db'}"
    client = make_app(url).test_client()
    body = assert_problem(client.get("/health/ready"), 503, "unavailable")
    assert body["checks"] == {"database": "error", "tws": "ok"}
    assert client.get("/health/live").status_code == 200
