"""The factory, its lifespan resources, OpenAPI/Swagger/ReDoc, and ``uvicorn --factory``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import resync_fastapi
from resync_fastapi import Settings, create_app
from tests.resync_fastapi.harness import AppHarness, settings_for
from tests.services import REPO_ROOT, TwsSim, free_port


def test_public_surface() -> None:
    assert resync_fastapi.__all__ == ["Settings", "create_app"]


def test_lifespan_opens_one_engine_and_one_client_and_closes_them(
    module_database_url: str, tws_sim: TwsSim
) -> None:
    harness = AppHarness(settings_for(module_database_url, tws_sim.twsd_url))
    with harness:
        state = harness.app.state
        engine, http = state.engine, state.tws_http
        for _ in range(3):
            assert harness.get("/health/ready").status_code == 200
        assert state.engine is engine and state.tws_http is http
        assert not http.closed
    assert http.closed


def test_openapi_documents_every_route_with_examples(harness: AppHarness) -> None:
    schema = harness.get("/openapi.json").json()
    paths = schema["paths"]
    expected = {
        ("post", "/api/v1/auth/login"),
        ("post", "/api/v1/auth/refresh"),
        ("post", "/api/v1/auth/logout"),
        ("get", "/api/v1/auth/me"),
        ("get", "/api/v1/users"),
        ("post", "/api/v1/users"),
        ("get", "/api/v1/agents"),
        ("get", "/api/v1/agents/{agent_id}"),
        ("post", "/api/v1/chat"),
        ("get", "/api/v1/chat/history"),
        ("delete", "/api/v1/chat/history"),
        ("get", "/api/v1/audit/flags"),
        ("post", "/api/v1/audit/review"),
        ("get", "/api/v1/audit/metrics"),
        ("get", "/api/v1/audit/export"),
        ("post", "/api/v1/rag/upload"),
        ("get", "/api/v1/rag/files"),
        ("get", "/api/v1/rag/files/{file_id}"),
        ("delete", "/api/v1/rag/files/{file_id}"),
        ("get", "/api/v1/rag/search"),
        ("get", "/api/v1/status"),
        ("get", "/api/v1/status/workstations"),
        ("get", "/api/v1/status/jobs"),
        ("get", "/api/v1/status/jobs/{job_id}"),
        ("get", "/api/v1/status/jobs/{job_id}/log"),
        ("get", "/api/v1/status/plan"),
        ("get", "/health/live"),
        ("get", "/health/ready"),
    }
    documented = {(method, path) for path, item in paths.items() for method in item}
    assert documented == expected
    login = paths["/api/v1/auth/login"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-www-form-urlencoded"} <= set(login)
    assert login["application/json"]["schema"]["examples"]
    chat_body = paths["/api/v1/chat"]["post"]["requestBody"]["content"]["application/json"]
    assert chat_body["schema"]["examples"][0]["agent_id"] == "tws-troubleshooting"
    assert "multipart/form-data" in paths["/api/v1/rag/upload"]["post"]["requestBody"]["content"]
    scheme = next(iter(schema["components"]["securitySchemes"].values()))
    assert scheme["flows"]["password"]["tokenUrl"] == "/api/v1/auth/login"
    assert schema["components"]["schemas"]["ChatMessageOut"]["examples"]
    assert "422" not in str(paths)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_interactive_docs_are_served(harness: AppHarness, path: str) -> None:
    response = harness.get(path)
    assert response.status_code == 200
    assert "/openapi.json" in response.text


def test_swagger_authorize_flow_logs_in_with_the_password_form(harness: AppHarness) -> None:
    # What Swagger UI's Authorize button sends to the tokenUrl.
    response = harness.post(
        "/api/v1/auth/login",
        data={
            "grant_type": "password",
            "username": "admin",
            "password": "resync-admin-dev",
            "scope": "",
            "client_id": "",
            "client_secret": "",
        },
        client="10.77.0.1",
    )
    assert response.status_code == 200
    assert response.json()["token_type"] == "bearer"


def test_create_app_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESYNC_RAG_MAX_BYTES", "1234")
    assert create_app().state.settings.rag_max_bytes == 1234
    assert create_app(Settings(rag_max_bytes=99)).state.settings.rag_max_bytes == 99


def test_uvicorn_factory_serves_the_app(module_database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "RESYNC_DATABASE_URL": module_database_url,
        "RESYNC_TWS_URL": f"http://127.0.0.1:{free_port()}/twsd",
        "RESYNC_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "resync_fastapi.main:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, "uvicorn exited"
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "uvicorn did not answer"
                time.sleep(0.1)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        assert len(response.headers["x-request-id"]) == 32
        agents = httpx.get(f"http://127.0.0.1:{port}/api/v1/agents", timeout=5)
        assert agents.status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_no_route_or_dependency_runs_in_a_worker_thread() -> None:
    # FastAPI runs plain ``def`` endpoints and dependencies in a thread pool: a hidden cost on
    # every request. Everything on the request path must be a coroutine (or async generator).
    import inspect

    from fastapi.routing import APIRoute, iter_route_contexts

    def calls(dependant: Any) -> Iterator[Any]:
        yield dependant.call
        for sub in dependant.dependencies:
            yield from calls(sub)

    app = create_app(Settings())
    checked = 0
    for context in iter_route_contexts(app.router.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not (context.path or "").startswith(
            ("/api", "/health")
        ):
            continue
        for call in calls(route.dependant):
            target = call if inspect.isfunction(call) else getattr(call, "__call__", call)  # noqa: B004
            assert inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target), (
                context.path,
                call,
            )
            checked += 1
    assert checked > 50


def test_routes_are_flat_in_the_app_router() -> None:
    # Included routers are branches FastAPI matches twice per level on every request (issue 11):
    # every API route sits directly in the app's router, at its full path, matched once.
    from fastapi.routing import APIRoute

    from resync_fastapi.core.routing import ResyncRoute

    app = create_app(Settings())
    api_routes = [route for route in app.router.routes if isinstance(route, APIRoute)]
    paths = {route.path for route in api_routes}
    assert {"/health/live", "/api/v1/status/jobs", "/api/v1/agents"} <= paths
    assert all(type(route).__name__ != "_IncludedRouter" for route in app.router.routes)
    jobs = next(route for route in api_routes if route.path == "/api/v1/status/jobs")
    assert isinstance(jobs, ResyncRoute) and jobs.literal_prefix == "/api/v1/status/jobs"
    assert "status" in jobs.tags and 502 in jobs.responses
