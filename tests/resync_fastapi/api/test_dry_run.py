"""Dry-run: the right ``X-Resync-Dry-Run`` key rolls the request's transaction back."""

from __future__ import annotations

from typing import Any

import pytest

from tests.resync_fastapi.harness import DRY_RUN_KEY, AppHarness, create_user, mint, snapshot
from tests.services import TwsSim

WRITES = [
    pytest.param(
        "POST",
        "/api/v1/chat",
        {"json": {"agent_id": "tws-general", "message": "hello"}},
        200,
        id="chat with an audit item",
    ),
    pytest.param(
        "POST",
        "/api/v1/users",
        {"json": {"username": "dry_run_user", "password": "x" * 12, "role": "viewer"}},
        201,
        id="create user",
    ),
    pytest.param(
        "POST",
        "/api/v1/audit/review",
        {"json": {"memory_id": "seed-0005", "action": "reject"}},
        200,
        id="review",
    ),
    pytest.param(
        "POST",
        "/api/v1/rag/upload",
        {"files": {"file": ("dry.txt", b"dry run content")}},
        201,
        id="upload",
    ),
    pytest.param("DELETE", "/api/v1/chat/history", {}, 204, id="delete history"),
    pytest.param("POST", "/api/v1/auth/logout", {}, 204, id="logout"),
    pytest.param(
        "POST",
        "/api/v1/auth/login",
        {"json": {"username": "viewer", "password": "bad"}},
        401,
        id="failed login attempt",
    ),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), WRITES)
def test_dry_run_answers_normally_and_persists_nothing(
    harness: AppHarness,
    module_database_url: str,
    tws_sim: TwsSim,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
) -> None:
    before = snapshot(module_database_url)
    response = harness.request(
        method, path, token=mint("admin"), headers={"X-Resync-Dry-Run": DRY_RUN_KEY}, **kwargs
    )
    assert response.status_code == status, response.text
    assert snapshot(module_database_url) == before


@pytest.mark.parametrize("header", ["wrong-key", ""], ids=["wrong key", "empty"])
def test_a_wrong_key_is_ignored(harness: AppHarness, module_database_url: str, header: str) -> None:
    username = create_user(module_database_url, "operator", "drywrong")
    before = snapshot(module_database_url)
    response = harness.post(
        "/api/v1/chat",
        token=mint(username, "operator"),
        headers={"X-Resync-Dry-Run": header},
        json={"agent_id": "tws-general", "message": "hello"},
    )
    assert response.status_code == 200
    assert snapshot(module_database_url) != before


def test_dry_run_is_disabled_without_a_configured_key(
    module_database_url: str, tws_sim: TwsSim
) -> None:
    from tests.resync_fastapi.harness import settings_for

    settings = settings_for(module_database_url, tws_sim.twsd_url, dry_run_key=None)
    with AppHarness(settings) as app:
        before = snapshot(module_database_url)
        response = app.post(
            "/api/v1/chat",
            token=mint("operator"),
            headers={"X-Resync-Dry-Run": ""},
            json={"agent_id": "tws-general", "message": "hello"},
        )
        assert response.status_code == 200
        assert snapshot(module_database_url) != before
