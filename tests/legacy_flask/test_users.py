"""List and create users."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask.testing import FlaskClient

from tests.legacy_flask.harness import assert_problem, auth, field_errors, query, snapshot


def _new_user(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "username": f"u-{uuid.uuid4().hex[:8]}",
        "password": "correct-horse-battery",
        "role": "operator",
        "full_name": "Ada Lovelace",
        "email": "ada@example.org",
    }
    body.update(changes)
    return body


def test_list_users_ordered_by_id(client: FlaskClient) -> None:
    response = client.get("/api/v1/users", headers=auth("admin"))
    body = response.get_json()
    assert list(body) == ["items", "total", "limit", "offset"]
    assert body["limit"] == 50 and body["offset"] == 0
    ids = [user["id"] for user in body["items"]]
    assert ids == sorted(ids)
    assert {"admin", "operator", "viewer"} <= {user["username"] for user in body["items"]}
    assert all("password_hash" not in user for user in body["items"])
    assert body["total"] == len(body["items"])


@pytest.mark.parametrize(
    ("params", "expected_count"),
    [
        pytest.param("limit=1", 1, id="first"),
        pytest.param("limit=2&offset=1", 2, id="second-page"),
        pytest.param("limit=100&offset=1000", 0, id="past-the-end"),
        pytest.param("limit=100", None, id="max-limit"),
    ],
)
def test_list_users_pagination(
    client: FlaskClient, params: str, expected_count: int | None
) -> None:
    everyone = client.get("/api/v1/users?limit=100", headers=auth("admin")).get_json()
    body = client.get(f"/api/v1/users?{params}", headers=auth("admin")).get_json()
    assert body["total"] == everyone["total"]
    expected = expected_count if expected_count is not None else everyone["total"]
    assert len(body["items"]) == min(expected, everyone["total"])
    assert body["items"] == everyone["items"][body["offset"] : body["offset"] + body["limit"]]


@pytest.mark.parametrize(
    ("params", "errors", "message"),
    [
        pytest.param(
            "limit=0", [("limit", "out_of_range")], "Must be between 1 and 100.", id="limit-0"
        ),
        pytest.param(
            "limit=101", [("limit", "out_of_range")], "Must be between 1 and 100.", id="limit-101"
        ),
        pytest.param(
            "offset=-1",
            [("offset", "out_of_range")],
            "Must be between 0 and 2147483647.",
            id="offset-negative",
        ),
        pytest.param(
            "limit=abc", [("limit", "invalid_type")], "Expected an integer.", id="limit-text"
        ),
        pytest.param(
            "limit=1.5", [("limit", "invalid_type")], "Expected an integer.", id="limit-float"
        ),
        pytest.param(
            "limit=", [("limit", "invalid_type")], "Expected an integer.", id="limit-empty"
        ),
        pytest.param(
            "limit=0&offset=x",
            [("limit", "out_of_range"), ("offset", "invalid_type")],
            "Must be between 1 and 100.",
            id="both",
        ),
    ],
)
def test_list_users_bad_pagination(
    client: FlaskClient, params: str, errors: list[tuple[str, str]], message: str
) -> None:
    response = client.get(f"/api/v1/users?{params}", headers=auth("admin"))
    body = assert_problem(response, 400, "validation", "The request has invalid fields.")
    assert field_errors(body) == errors
    assert body["errors"][0]["message"] == message


def test_repeated_query_parameter_last_wins(client: FlaskClient) -> None:
    body = client.get("/api/v1/users?limit=500&limit=1", headers=auth("admin")).get_json()
    assert body["limit"] == 1


def test_create_user(client: FlaskClient, db_path: str) -> None:
    new = _new_user()
    response = client.post("/api/v1/users", json=new, headers=auth("admin"))
    assert response.status_code == 201
    body = response.get_json()
    assert list(body) == ["id", "username", "role", "full_name", "email", "created_at"]
    assert body["username"] == new["username"] and body["role"] == "operator"
    assert body["email"] == "ada@example.org" and body["full_name"] == "Ada Lovelace"
    stored = query(db_path, "SELECT * FROM users WHERE id = :i", i=body["id"])[0]
    assert stored.password_hash.startswith("$argon2id$")
    assert PasswordHasher().verify(stored.password_hash, new["password"])
    login = client.post(
        "/api/v1/auth/login",
        json={"username": new["username"], "password": new["password"]},
        environ_base={"REMOTE_ADDR": "10.2.0.1"},
    )
    assert login.status_code == 200


def test_create_user_optional_fields_default(client: FlaskClient) -> None:
    new = _new_user()
    del new["full_name"], new["email"]
    body = client.post("/api/v1/users", json=new, headers=auth("admin")).get_json()
    assert body["full_name"] == "" and body["email"] is None


def test_duplicate_username_is_409(client: FlaskClient, db_path: str) -> None:
    before = snapshot(db_path)
    response = client.post(
        "/api/v1/users", json=_new_user(username="viewer"), headers=auth("admin")
    )
    assert_problem(response, 409, "conflict", "User viewer already exists.")
    assert snapshot(db_path) == before


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        pytest.param(
            {"username": "Bad Name"}, [("username", "invalid_format")], id="username-pattern"
        ),
        pytest.param({"username": "ab"}, [("username", "invalid_format")], id="username-short"),
        pytest.param({"username": "a" * 33}, [("username", "invalid_format")], id="username-long"),
        pytest.param({"username": 7}, [("username", "invalid_type")], id="username-type"),
        pytest.param({"password": "short"}, [("password", "too_short")], id="password-short"),
        pytest.param({"password": "p" * 129}, [("password", "too_long")], id="password-long"),
        pytest.param({"role": "root"}, [("role", "invalid_choice")], id="role-choice"),
        pytest.param({"full_name": "n" * 101}, [("full_name", "too_long")], id="full-name-long"),
        pytest.param({"full_name": None}, [("full_name", "invalid_type")], id="full-name-null"),
        pytest.param({"email": "not-an-email"}, [("email", "invalid_format")], id="email-shape"),
        pytest.param({"email": "a@b.c" + "c" * 250}, [("email", "too_long")], id="email-long"),
        pytest.param({"email": 12}, [("email", "invalid_type")], id="email-type"),
        pytest.param(
            {"username": None, "password": None, "role": None},
            [("username", "invalid_type"), ("password", "invalid_type"), ("role", "invalid_type")],
            id="nulls",
        ),
    ],
)
def test_create_user_validation_changes_nothing(
    client: FlaskClient, db_path: str, changes: dict[str, Any], errors: list[tuple[str, str]]
) -> None:
    before = snapshot(db_path)
    response = client.post("/api/v1/users", json=_new_user(**changes), headers=auth("admin"))
    assert field_errors(assert_problem(response, 400, "validation")) == errors
    assert snapshot(db_path) == before


def test_create_user_all_missing_in_model_order(client: FlaskClient) -> None:
    response = client.post("/api/v1/users", json={"unknown": 1}, headers=auth("admin"))
    body = assert_problem(response, 400, "validation")
    assert field_errors(body) == [
        ("username", "missing"),
        ("password", "missing"),
        ("role", "missing"),
    ]
    assert body["errors"][2]["message"] == "Field required."


def test_role_choice_message_lists_choices(client: FlaskClient) -> None:
    response = client.post("/api/v1/users", json=_new_user(role="root"), headers=auth("admin"))
    assert response.get_json()["errors"][0]["message"] == "Must be one of: viewer, operator, admin."
