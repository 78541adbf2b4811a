"""Every error is a problem+json answer: routing, body limits, content types, crashes."""

from __future__ import annotations

import io
import json

import pytest
import structlog
from flask import Flask
from flask.testing import FlaskClient
from structlog.testing import capture_logs

from tests.legacy_flask.conftest import AppFactory
from tests.legacy_flask.harness import assert_problem, auth, field_errors, snapshot

ONE_MIB = 1_048_576


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/nope", id="unknown"),
        pytest.param("/api/v1/agents/", id="trailing-slash"),
        pytest.param("/api/v1//agents", id="doubled-slash"),
        pytest.param("/api/v2/agents", id="other-version"),
        pytest.param("/static/app.js", id="no-static-files"),
    ],
)
def test_unknown_path_is_404(client: FlaskClient, path: str) -> None:
    response = client.get(path, headers=auth("admin"))
    body = assert_problem(response, 404, "not-found", "The requested URL was not found.")
    assert body["title"] == "Not found"
    assert body["instance"] == path


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        pytest.param("POST", "/api/v1/agents", "GET, HEAD", id="post-on-get"),
        pytest.param("PUT", "/api/v1/users", "GET, HEAD, POST", id="put-on-get-post"),
        pytest.param("GET", "/api/v1/chat", "POST", id="get-on-post"),
        pytest.param("OPTIONS", "/api/v1/agents", "GET, HEAD", id="options-not-automatic"),
        pytest.param("PATCH", "/api/v1/rag/files/x", "DELETE, GET, HEAD", id="patch-on-file"),
        pytest.param("GET", "/api/v1/auth/login", "POST", id="get-login"),
    ],
)
def test_wrong_method_is_405_with_allow(
    client: FlaskClient, method: str, path: str, allow: str
) -> None:
    response = client.open(path, method=method)
    assert_problem(
        response, 405, "method-not-allowed", f"Method {method} is not allowed for this URL."
    )
    assert response.headers["Allow"] == allow


def test_unknown_path_comes_before_body_limit(client: FlaskClient) -> None:
    response = client.post("/nope", data=b"x" * (ONE_MIB + 1), content_type="application/json")
    assert_problem(response, 404, "not-found")


def test_head_answers_like_get_without_body(client: FlaskClient) -> None:
    get = client.get("/api/v1/agents", headers=auth("viewer"))
    head = client.head("/api/v1/agents", headers=auth("viewer"))
    assert head.status_code == 200
    assert head.data == b""
    assert head.headers["Content-Type"] == get.headers["Content-Type"]
    assert head.headers["Content-Length"] == get.headers["Content-Length"]


def test_oversized_json_is_413_before_authentication(client: FlaskClient, db_path: str) -> None:
    before = snapshot(db_path)
    response = client.post(
        "/api/v1/chat", data=b" " * (ONE_MIB + 1), content_type="application/json"
    )
    assert_problem(
        response, 413, "payload-too-large", "The request body exceeds the limit of 1048576 bytes."
    )
    assert snapshot(db_path) == before


def test_oversized_chunked_json_is_413(client: FlaskClient) -> None:
    # Transfer-Encoding: chunked means no Content-Length: the limit applies while reading.
    response = client.post(
        "/api/v1/chat",
        input_stream=io.BytesIO(b" " * (ONE_MIB + 10)),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_problem(response, 413, "payload-too-large")


def test_json_body_at_the_limit_is_read(client: FlaskClient) -> None:
    body = json.dumps({"agent_id": "tws-general", "message": "x" * 10}).encode()
    padded = body + b" " * (ONE_MIB - len(body))
    response = client.post(
        "/api/v1/audit/review",
        data=padded,
        content_type="application/json",
        headers=auth("operator"),
    )
    assert_problem(response, 400, "validation")  # parsed, then validated: not a 413


@pytest.mark.parametrize(
    ("data", "content_type", "status", "slug", "errors"),
    [
        pytest.param(
            b"{",
            "application/json",
            400,
            "validation",
            [("body", "invalid_format")],
            id="malformed",
        ),
        pytest.param(
            b"", "application/json", 400, "validation", [("body", "invalid_format")], id="empty"
        ),
        pytest.param(
            b"\xff\xfe{}",
            "application/json",
            400,
            "validation",
            [("body", "invalid_format")],
            id="not-utf8",
        ),
        pytest.param(
            b'{"a": NaN}',
            "application/json",
            400,
            "validation",
            [("body", "invalid_format")],
            id="nan",
        ),
        pytest.param(
            b"[" * 100_000,
            "application/json",
            400,
            "validation",
            [("body", "invalid_format")],
            id="deeply-nested",
        ),
        pytest.param(
            b"[1, 2]", "application/json", 400, "validation", [("body", "invalid_type")], id="array"
        ),
        pytest.param(
            b'"text"',
            "application/json; charset=utf-8",
            400,
            "validation",
            [("body", "invalid_type")],
            id="string-with-charset",
        ),
        pytest.param(
            b'{"memory_id": "x"}',
            "text/plain",
            415,
            "unsupported-media-type",
            None,
            id="text-plain",
        ),
        pytest.param(
            b"memory_id=x",
            "application/x-www-form-urlencoded",
            415,
            "unsupported-media-type",
            None,
            id="form-on-json-endpoint",
        ),
    ],
)
def test_bad_json_bodies(
    client: FlaskClient,
    db_path: str,
    data: bytes,
    content_type: str,
    status: int,
    slug: str,
    errors: list[tuple[str, str]] | None,
) -> None:
    before = snapshot(db_path)
    response = client.post(
        "/api/v1/audit/review", data=data, content_type=content_type, headers=auth("operator")
    )
    body = assert_problem(response, status, slug)
    if errors is None:
        assert body["detail"] == "Expected application/json."
        assert "errors" not in body
    else:
        assert field_errors(body) == errors
    if errors == [("body", "invalid_format")]:
        assert body["detail"] == "The request body is not valid JSON."
    assert snapshot(db_path) == before


def test_authentication_comes_before_content_type(client: FlaskClient) -> None:
    response = client.post("/api/v1/audit/review", data=b"x", content_type="text/plain")
    assert_problem(response, 401, "unauthorized")


def test_role_comes_before_validation(client: FlaskClient) -> None:
    response = client.post(
        "/api/v1/audit/review", data=b"{", content_type="application/json", headers=auth("viewer")
    )
    assert_problem(response, 403, "forbidden")


@pytest.fixture
def crashing_app(make_app: AppFactory, db_path: str) -> Flask:
    app = make_app(db_path)

    def explode() -> str:
        raise RuntimeError("secret-sauce SELECT password_hash FROM users")

    app.add_url_rule("/api/v1/explode", "explode", explode, provide_automatic_options=False)
    return app


def test_unexpected_exception_is_a_bare_500(crashing_app: Flask) -> None:
    with capture_logs() as logs:
        response = crashing_app.test_client().get("/api/v1/explode")
    body = assert_problem(response, 500, "internal", "An unexpected error occurred.")
    text = response.get_data(as_text=True)
    assert "secret-sauce" not in text and "Traceback" not in text and "SELECT" not in text
    assert body["title"] == "Internal server error"
    crash = [entry for entry in logs if entry["event"] == "unhandled_exception"]
    assert len(crash) == 1
    assert crash[0]["request_id"] == body["request_id"]
    assert crash[0]["exc_info"][0] is RuntimeError


@pytest.mark.parametrize(
    ("offered", "kept"),
    [
        pytest.param("abc-123_X.y", True, id="valid"),
        pytest.param("a" * 64, True, id="64-chars"),
        pytest.param("a" * 65, False, id="too-long"),
        pytest.param("bad id!", False, id="bad-characters"),
        pytest.param("", False, id="empty"),
    ],
)
def test_request_id_is_kept_or_generated(client: FlaskClient, offered: str, kept: bool) -> None:
    response = client.get("/nope", headers={"X-Request-ID": offered})
    request_id = response.headers["X-Request-ID"]
    assert response.get_json()["request_id"] == request_id
    if kept:
        assert request_id == offered
    else:
        assert request_id != offered
        assert len(request_id) == 32
        int(request_id, 16)


def test_success_carries_request_id(client: FlaskClient) -> None:
    response = client.get("/health/live", headers={"X-Request-ID": "trace-1"})
    assert response.headers["X-Request-ID"] == "trace-1"
    assert response.data == b'{"status":"ok"}'


def test_one_access_log_line_without_secrets(client: FlaskClient) -> None:
    token = auth("viewer")
    with capture_logs() as logs:
        response = client.get(
            "/api/v1/agents?limit=1",
            headers={**token, "X-Request-ID": "log-check"},
            buffered=False,
        )
        assert not [entry for entry in logs if entry["event"] == "request"]
        response.close()  # the line is written once the body has been sent
    lines = [entry for entry in logs if entry["event"] == "request"]
    assert lines == [
        {
            "event": "request",
            "app": "legacy",
            "request_id": "log-check",
            "method": "GET",
            "path": "/api/v1/agents",
            "status": 200,
            "duration_ms": lines[0]["duration_ms"],
            "log_level": "info",
        }
    ]
    assert token["Authorization"].split()[1] not in json.dumps(logs, default=str)


def test_login_password_never_logged(client: FlaskClient) -> None:
    with capture_logs() as logs:
        client.post(
            "/api/v1/auth/login", json={"username": "nobody", "password": "hunter2-secret"}
        ).close()
    assert logs
    assert "hunter2-secret" not in json.dumps(logs, default=str)


def test_request_id_is_bound_while_the_app_runs(make_app: AppFactory, db_path: str) -> None:
    app = make_app(db_path)
    app.add_url_rule(
        "/api/v1/context",
        "context",
        lambda: dict(structlog.contextvars.get_contextvars()),
        provide_automatic_options=False,
    )
    response = app.test_client().get("/api/v1/context", headers={"X-Request-ID": "bound-1"})
    assert response.get_json() == {"request_id": "bound-1"}
    assert structlog.contextvars.get_contextvars() == {}
