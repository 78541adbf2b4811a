"""Log in, lock out, refresh, log out and ask who I am."""

from __future__ import annotations

import itertools
from typing import Any

import jwt
import pytest
from flask.testing import FlaskClient

from tests.legacy_flask.harness import (
    PASSWORDS,
    SECRET,
    assert_problem,
    bearer,
    field_errors,
    query,
    snapshot,
)

_addresses = itertools.count(10)


def fresh_address() -> dict[str, Any]:
    """A client address of its own, so lockout counts never leak between tests."""
    return {"REMOTE_ADDR": f"10.1.0.{next(_addresses)}"}


def login(client: FlaskClient, username: str, password: str, **kwargs: Any) -> Any:
    return client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}, **kwargs
    )


def test_login_returns_a_token_pair(client: FlaskClient) -> None:
    response = login(client, "operator", PASSWORDS["operator"], environ_base=fresh_address())
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["access_token", "refresh_token", "token_type", "expires_in"]
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 1800
    access = jwt.decode(body["access_token"], SECRET, algorithms=["HS256"], audience="resync-api")
    refresh = jwt.decode(body["refresh_token"], SECRET, algorithms=["HS256"], audience="resync-api")
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "HS256"
    assert access["iss"] == "resync" and access["sub"] == "operator"
    assert access["role"] == "operator" and access["typ"] == "access"
    assert refresh["typ"] == "refresh"
    assert access["sid"] == refresh["sid"] and len(access["sid"]) == 32
    assert access["jti"] != refresh["jti"] and len(access["jti"]) == 32
    assert access["exp"] - access["iat"] == 1800
    assert refresh["exp"] - refresh["iat"] == 7 * 24 * 3600
    assert client.get("/api/v1/auth/me", headers=bearer(body["access_token"])).status_code == 200


def test_login_accepts_the_oauth2_password_form(client: FlaskClient) -> None:
    response = client.post(
        "/api/v1/auth/login",
        data={
            "grant_type": "password",
            "username": "viewer",
            "password": PASSWORDS["viewer"],
            "scope": "",
            "client_id": "swagger",
        },
        environ_base=fresh_address(),
    )
    assert response.status_code == 200
    assert response.get_json()["token_type"] == "bearer"


@pytest.mark.parametrize(
    ("username", "password"),
    [
        pytest.param("viewer", "wrong-password", id="wrong-password"),
        pytest.param("nobody", "whatever-password", id="unknown-user"),
        pytest.param("VIEWER", PASSWORDS["viewer"], id="username-is-case-sensitive"),
    ],
)
def test_bad_credentials_are_401_and_recorded(
    client: FlaskClient, db_path: str, username: str, password: str
) -> None:
    address = fresh_address()
    response = login(client, username, password, environ_base=address)
    assert_problem(response, 401, "unauthorized", "Invalid username or password.")
    assert response.headers["WWW-Authenticate"] == "Bearer"
    rows = query(
        db_path,
        "SELECT username, succeeded FROM login_attempts WHERE client_addr = :a",
        a=address["REMOTE_ADDR"],
    )
    assert [(row.username, bool(row.succeeded)) for row in rows] == [(username, False)]


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        pytest.param({}, [("username", "missing"), ("password", "missing")], id="empty"),
        pytest.param(
            {"username": 1, "password": None},
            [("username", "invalid_type"), ("password", "invalid_type")],
            id="wrong-types",
        ),
        pytest.param(
            {"username": "", "password": "x" * 129},
            [("username", "too_short"), ("password", "too_long")],
            id="lengths",
        ),
    ],
)
def test_login_validation_changes_nothing(
    client: FlaskClient, db_path: str, body: dict[str, Any], errors: list[tuple[str, str]]
) -> None:
    before = snapshot(db_path)
    response = client.post("/api/v1/auth/login", json=body, environ_base=fresh_address())
    assert field_errors(assert_problem(response, 400, "validation")) == errors
    assert snapshot(db_path) == before


def test_login_form_missing_fields(client: FlaskClient) -> None:
    response = client.post("/api/v1/auth/login", data={"grant_type": "password"})
    assert field_errors(assert_problem(response, 400, "validation")) == [
        ("username", "missing"),
        ("password", "missing"),
    ]


def test_login_other_content_type_is_415(client: FlaskClient) -> None:
    response = client.post("/api/v1/auth/login", data="username=viewer", content_type="text/plain")
    assert_problem(response, 415, "unsupported-media-type", "Expected application/json.")


def test_five_failures_lock_the_pair_out(client: FlaskClient, db_path: str) -> None:
    address = fresh_address()
    for _ in range(5):
        assert login(client, "viewer", "wrong-password", environ_base=address).status_code == 401
    before = snapshot(db_path)
    locked = login(client, "viewer", PASSWORDS["viewer"], environ_base=address)
    body = assert_problem(
        locked, 429, "rate-limited", "Too many failed login attempts. Try again later."
    )
    assert body["title"] == "Too many requests"
    retry_after = int(locked.headers["Retry-After"])
    assert 0 < retry_after <= 900
    assert snapshot(db_path) == before  # a locked attempt is not recorded
    # Another address, or another user from this address, is not locked.
    assert (
        login(client, "viewer", PASSWORDS["viewer"], environ_base=fresh_address()).status_code
        == 200
    )
    assert login(client, "operator", PASSWORDS["operator"], environ_base=address).status_code == 200


def test_unknown_usernames_lock_out_too(client: FlaskClient) -> None:
    address = fresh_address()
    for _ in range(5):
        login(client, "ghost-user", "whatever-pass", environ_base=address)
    response = login(client, "ghost-user", "whatever-pass", environ_base=address)
    assert response.status_code == 429


def test_a_success_resets_the_failure_count(client: FlaskClient) -> None:
    address = fresh_address()
    for _ in range(4):
        login(client, "viewer", "wrong-password", environ_base=address)
    assert login(client, "viewer", PASSWORDS["viewer"], environ_base=address).status_code == 200
    for _ in range(4):
        login(client, "viewer", "wrong-password", environ_base=address)
    assert login(client, "viewer", PASSWORDS["viewer"], environ_base=address).status_code == 200


def test_old_failures_do_not_count(client: FlaskClient, db_path: str) -> None:
    from tests.legacy_flask.harness import execute

    address = fresh_address()["REMOTE_ADDR"]
    for minutes in (16, 17, 18, 19, 20):
        execute(
            db_path,
            "INSERT INTO login_attempts (username, client_addr, succeeded, attempted_at)"
            " VALUES ('viewer', :a, :f, :t)",
            a=address,
            f=False,
            t=_minutes_ago(minutes),
        )
    response = login(client, "viewer", PASSWORDS["viewer"], environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 200


def test_retry_after_counts_from_the_fifth_latest_failure(
    client: FlaskClient, db_path: str
) -> None:
    from tests.legacy_flask.harness import execute

    address = fresh_address()["REMOTE_ADDR"]
    for minutes in (10, 3, 2, 1, 0):
        execute(
            db_path,
            "INSERT INTO login_attempts (username, client_addr, succeeded, attempted_at)"
            " VALUES ('viewer', :a, :f, :t)",
            a=address,
            f=False,
            t=_minutes_ago(minutes),
        )
    response = login(client, "viewer", PASSWORDS["viewer"], environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 429
    # The fifth most recent failure is 10 minutes old: about 5 minutes to go.
    assert 290 <= int(response.headers["Retry-After"]) <= 301


def _minutes_ago(minutes: int) -> Any:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(minutes=minutes)).replace(tzinfo=None, microsecond=0)


def _pair(client: FlaskClient, username: str = "viewer") -> dict[str, Any]:
    response = login(client, username, PASSWORDS[username], environ_base=fresh_address())
    assert response.status_code == 200
    return dict(response.get_json())


def test_refresh_rotates_and_revokes_the_old_refresh_token(client: FlaskClient) -> None:
    first = _pair(client)
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 200
    second = response.get_json()
    assert list(second) == ["access_token", "refresh_token", "token_type", "expires_in"]
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get("/api/v1/auth/me", headers=bearer(second["access_token"])).status_code == 200
    again = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert_problem(again, 401, "unauthorized", "Invalid or expired token.")
    assert again.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    third = client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert third.status_code == 200


def test_refresh_refuses_an_access_token(client: FlaskClient) -> None:
    pair = _pair(client)
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["access_token"]})
    assert_problem(response, 401, "unauthorized", "Invalid or expired token.")


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        pytest.param({}, [("refresh_token", "missing")], id="missing"),
        pytest.param({"refresh_token": 5}, [("refresh_token", "invalid_type")], id="number"),
    ],
)
def test_refresh_validation(
    client: FlaskClient, body: dict[str, Any], errors: list[tuple[str, str]]
) -> None:
    response = client.post("/api/v1/auth/refresh", json=body)
    assert field_errors(assert_problem(response, 400, "validation")) == errors


def test_logout_revokes_access_and_refresh(client: FlaskClient) -> None:
    pair = _pair(client)
    response = client.post("/api/v1/auth/logout", headers=bearer(pair["access_token"]))
    assert response.status_code == 204
    assert response.data == b""
    assert "Content-Type" not in response.headers
    me = client.get("/api/v1/auth/me", headers=bearer(pair["access_token"]))
    assert_problem(me, 401, "unauthorized", "Invalid or expired token.")
    refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert_problem(refresh, 401, "unauthorized", "Invalid or expired token.")
    # Another session of the same user is untouched.
    other = _pair(client)
    assert client.get("/api/v1/auth/me", headers=bearer(other["access_token"])).status_code == 200


def test_me_describes_the_caller(client: FlaskClient) -> None:
    pair = _pair(client, "admin")
    response = client.get("/api/v1/auth/me", headers=bearer(pair["access_token"]))
    body = response.get_json()
    assert list(body) == ["id", "username", "role", "full_name", "email", "created_at"]
    assert body["username"] == "admin" and body["role"] == "admin"
    assert body["full_name"] == "Demo Admin" and body["email"] == "admin@resync.example"
    assert body["created_at"].endswith("Z") and len(body["created_at"]) == 20
