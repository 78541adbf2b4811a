"""The role matrix: every protected endpoint by no token and each role.

A role that may call an endpoint gets the endpoint's own answer (requests are chosen so that
answer is harmless: unknown ids, invalid bodies); a lower role gets 403 naming the role needed;
no token gets 401 with ``WWW-Authenticate: Bearer``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.resync_fastapi.harness import AppHarness, assert_problem, mint

RANK = {"viewer": 0, "operator": 1, "admin": 2}

# (method, path, request kwargs, role needed, status when allowed)
ENDPOINTS: list[tuple[str, str, dict[str, Any], str, int]] = [
    ("GET", "/api/v1/auth/me", {}, "viewer", 200),
    ("POST", "/api/v1/auth/logout", {}, "viewer", 204),
    ("GET", "/api/v1/users", {}, "admin", 200),
    ("POST", "/api/v1/users", {"json": {}}, "admin", 400),
    ("GET", "/api/v1/agents", {}, "viewer", 200),
    ("GET", "/api/v1/agents/tws-general", {}, "viewer", 200),
    ("POST", "/api/v1/chat", {"json": {"agent_id": "nope", "message": "hi"}}, "operator", 404),
    ("GET", "/api/v1/chat/history", {}, "viewer", 200),
    ("DELETE", "/api/v1/chat/history?agent_id=nope", {}, "operator", 204),
    ("GET", "/api/v1/audit/flags", {}, "viewer", 200),
    ("GET", "/api/v1/audit/metrics", {}, "viewer", 200),
    (
        "POST",
        "/api/v1/audit/review",
        {"json": {"memory_id": "nope", "action": "approve"}},
        "operator",
        404,
    ),
    ("GET", "/api/v1/audit/export", {}, "admin", 200),
    ("POST", "/api/v1/rag/upload", {"files": {"file": ("x.exe", b"x")}}, "operator", 415),
    ("GET", "/api/v1/rag/files", {}, "viewer", 200),
    ("GET", "/api/v1/rag/files/nope", {}, "viewer", 404),
    ("DELETE", "/api/v1/rag/files/nope", {}, "admin", 404),
    ("GET", "/api/v1/rag/search?q=abend", {}, "viewer", 200),
    ("GET", "/api/v1/status", {}, "viewer", 200),
    ("GET", "/api/v1/status/workstations", {}, "viewer", 200),
    ("GET", "/api/v1/status/jobs", {}, "viewer", 200),
    ("GET", "/api/v1/status/jobs/J0001", {}, "viewer", 200),
    ("GET", "/api/v1/status/jobs/J0001/log", {}, "viewer", 200),
    ("GET", "/api/v1/status/plan", {}, "viewer", 200),
]

CASES = [
    pytest.param(method, path, kwargs, needed, allowed, caller, id=f"{method} {path} as {caller}")
    for method, path, kwargs, needed, allowed in ENDPOINTS
    for caller in ("anonymous", "viewer", "operator", "admin")
]


@pytest.mark.parametrize(("method", "path", "kwargs", "needed", "allowed", "caller"), CASES)
def test_role_matrix(
    harness: AppHarness,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    needed: str,
    allowed: int,
    caller: str,
) -> None:
    token = None if caller == "anonymous" else mint(caller)
    response = harness.request(method, path, token=token, **kwargs)
    if caller == "anonymous":
        assert_problem(response, 401, "unauthorized", "Missing bearer token.")
        assert response.headers["www-authenticate"] == "Bearer"
    elif RANK[caller] < RANK[needed]:
        assert_problem(response, 403, "forbidden", f"This action requires the {needed} role.")
    else:
        assert response.status_code == allowed, response.text


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        pytest.param("POST", "/api/v1/health/live", {}, id="no such route"),
        pytest.param("POST", "/api/v1/auth/login", {"json": {}}, id="login needs no token"),
        pytest.param("POST", "/api/v1/auth/refresh", {"json": {}}, id="refresh needs no token"),
    ],
)
def test_public_endpoints_answer_without_a_token(
    harness: AppHarness, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    response = harness.request(method, path, **kwargs)
    assert response.status_code in (400, 404)


@pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
def test_health_needs_no_token(harness: AppHarness, path: str) -> None:
    assert harness.get(path).status_code == 200
