"""Request ids at the edge and one structured log line per request, with no secrets."""

from __future__ import annotations

from typing import Any

import pytest
import structlog

from resync_fastapi.core.logging import request_id_from
from tests.resync_fastapi.harness import AppHarness, assert_problem, mint


@pytest.mark.parametrize(
    "request_id", ["abc-123", "A.b_C-9", "x" * 64], ids=["simple", "all classes", "64 chars"]
)
def test_a_valid_client_request_id_is_kept(harness: AppHarness, request_id: str) -> None:
    response = harness.get("/health/live", headers={"X-Request-ID": request_id})
    assert response.headers["x-request-id"] == request_id


@pytest.mark.parametrize(
    "request_id", ["bad id", "x" * 65, "", "é"], ids=["space", "65 chars", "empty", "non-ascii"]
)
def test_an_invalid_request_id_is_replaced(harness: AppHarness, request_id: str) -> None:
    response = harness.get("/api/v1/nope", headers={"X-Request-ID": request_id.encode("utf-8")})
    generated = response.headers["x-request-id"]
    assert generated != request_id and len(generated) == 32
    assert int(generated, 16) >= 0
    assert assert_problem(response, 404, "not-found")["request_id"] == generated


def test_a_repeated_request_id_header_is_replaced() -> None:
    # httpx folds repeated headers, so this checks the edge function on a raw ASGI scope.
    headers = [(b"x-request-id", b"first"), (b"x-request-id", b"second")]
    generated = request_id_from({"type": "http", "headers": headers})
    assert generated not in ("first", "second") and len(generated) == 32
    assert request_id_from({"type": "http", "headers": headers[:1]}) == "first"


def test_every_response_gets_a_fresh_id(harness: AppHarness) -> None:
    first = harness.get("/health/live").headers["x-request-id"]
    assert harness.get("/health/live").headers["x-request-id"] != first


def test_one_request_line_per_request_without_secrets(harness: AppHarness) -> None:
    token = mint("viewer")
    with structlog.testing.capture_logs() as logs:
        harness.post(
            "/api/v1/auth/login",
            json={"username": "viewer", "password": "resync-viewer-dev"},
            headers={"X-Request-ID": "log-check-1"},
        )
        harness.get("/api/v1/auth/me", token=token, headers={"X-Request-ID": "log-check-2"})
    lines = [entry for entry in logs if entry["event"] == "request"]
    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("POST", "/api/v1/auth/login", 200),
        ("GET", "/api/v1/auth/me", 200),
    ]
    assert all(line["app"] == "new" and line["duration_ms"] >= 0 for line in lines)
    text = repr(logs)
    assert token not in text
    assert "resync-viewer-dev" not in text
    assert "Authorization" not in text and "authorization" not in text


def test_the_request_id_is_bound_while_the_request_runs(harness: AppHarness) -> None:
    with structlog.testing.capture_logs(
        processors=[structlog.contextvars.merge_contextvars]
    ) as logs:
        harness.get("/health/live", headers={"X-Request-ID": "bound-id"})
    assert any(entry.get("request_id") == "bound-id" for entry in logs)
    assert structlog.contextvars.get_contextvars().get("request_id") is None


def test_a_client_that_leaves_mid_body_is_logged_not_answered_500() -> None:
    """A body read cut short (the client left, or a front answered 408) is not an app error."""
    import asyncio

    from starlette.requests import Request

    from resync_fastapi.core.logging import RequestContextMiddleware

    async def reads_body(scope: Any, receive: Any, send: Any) -> None:
        await Request(scope, receive).body()

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": [], "query_string": b""}
    with structlog.testing.capture_logs() as logs:
        asyncio.run(RequestContextMiddleware(reads_body)(scope, receive, send))
    assert sent == []
    events = [entry["event"] for entry in logs]
    assert "client_disconnected" in events and "unhandled_error" not in events
