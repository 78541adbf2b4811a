"""404, 405 with ``Allow``, HEAD on GET routes, no slash redirects, no automatic OPTIONS."""

from __future__ import annotations

import pytest

from tests.resync_fastapi.harness import AppHarness, assert_problem, mint


@pytest.mark.parametrize(
    "path",
    ["/nope", "/api/v1", "/api/v1/agents/", "/api/v1/users/", "/health", "/api/v1/ws/chat/x"],
)
def test_unknown_paths_are_404_problems(harness: AppHarness, path: str) -> None:
    response = harness.get(path)
    assert_problem(response, 404, "not-found", "The requested URL was not found.")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        pytest.param("PUT", "/api/v1/users", "GET, HEAD, POST", id="users"),
        pytest.param("POST", "/api/v1/chat/history", "DELETE, GET, HEAD", id="history"),
        pytest.param("PATCH", "/api/v1/rag/files/abc", "DELETE, GET, HEAD", id="file"),
        pytest.param("GET", "/api/v1/chat", "POST", id="chat"),
        pytest.param("GET", "/api/v1/auth/login", "POST", id="login"),
        pytest.param("DELETE", "/health/live", "GET, HEAD", id="live"),
        pytest.param("OPTIONS", "/api/v1/agents", "GET, HEAD", id="options"),
        pytest.param("HEAD", "/api/v1/rag/upload", "POST", id="head on a POST route"),
    ],
)
def test_wrong_methods_are_405_with_every_allowed_method(
    harness: AppHarness, method: str, path: str, allow: str
) -> None:
    response = harness.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    if method != "HEAD":
        assert_problem(
            response, 405, "method-not-allowed", f"Method {method} is not allowed for this URL."
        )


def test_405_comes_before_authentication(harness: AppHarness) -> None:
    assert harness.request("PUT", "/api/v1/audit/export").status_code == 405


@pytest.mark.parametrize("path", ["/api/v1/agents", "/health/live", "/api/v1/audit/export"])
def test_head_answers_the_get_headers_without_a_body(harness: AppHarness, path: str) -> None:
    token = mint("admin")
    head = harness.request("HEAD", path, token=token)
    get = harness.get(path, token=token)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]


def test_head_needs_the_same_authentication(harness: AppHarness) -> None:
    response = harness.request("HEAD", "/api/v1/agents")
    assert response.status_code == 401
    assert response.content == b""
