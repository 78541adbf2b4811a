"""``/users`` (admin): list with pagination, create, duplicates and every invalid field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.resync_fastapi.harness import AppHarness, assert_problem, field_errors, mint, snapshot

USERS = "/api/v1/users"


class TestList:
    def test_lists_users_ordered_by_id(self, harness: AppHarness) -> None:
        body = harness.get(USERS, token=mint("admin")).json()
        assert list(body) == ["items", "total", "limit", "offset"]
        ids = [item["id"] for item in body["items"]]
        assert ids == sorted(ids)
        assert {"admin", "operator", "viewer"} <= {item["username"] for item in body["items"]}
        assert list(body["items"][0]) == [
            "id",
            "username",
            "role",
            "full_name",
            "email",
            "created_at",
        ]
        assert all("password" not in str(item) for item in body["items"])

    @pytest.mark.parametrize(
        ("query", "limit", "offset"),
        [
            pytest.param("", 50, 0, id="defaults"),
            pytest.param("?limit=1", 1, 0, id="limit 1"),
            pytest.param("?limit=100", 100, 0, id="limit 100"),
            pytest.param("?limit=2&offset=2", 2, 2, id="second page"),
            pytest.param("?offset=3", 50, 3, id="offset past the seeded users"),
            pytest.param("?offset=1000", 50, 1000, id="offset beyond the end"),
            pytest.param("?limit=1&limit=2", 2, 0, id="repeated: the last wins"),
        ],
    )
    def test_pagination_edges(
        self, harness: AppHarness, query: str, limit: int, offset: int
    ) -> None:
        everyone = harness.get(USERS + "?limit=100", token=mint("admin")).json()["items"]
        body = harness.get(USERS + query, token=mint("admin")).json()
        assert (body["total"], body["limit"], body["offset"]) == (len(everyone), limit, offset)
        assert body["items"] == everyone[offset : offset + limit]

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            pytest.param("?limit=0", [("limit", "out_of_range")], id="limit 0"),
            pytest.param("?limit=101", [("limit", "out_of_range")], id="limit 101"),
            pytest.param("?offset=-1", [("offset", "out_of_range")], id="negative offset"),
            pytest.param("?limit=ten", [("limit", "invalid_type")], id="limit not a number"),
            pytest.param("?limit=1.5", [("limit", "invalid_type")], id="limit a float"),
            pytest.param("?limit=+5", [("limit", "invalid_type")], id="limit with a plus"),
            pytest.param(
                "?limit=0&offset=x",
                [("limit", "out_of_range"), ("offset", "invalid_type")],
                id="both, in order",
            ),
        ],
    )
    def test_bad_pagination_is_400(
        self, harness: AppHarness, query: str, expected: list[tuple[str, str]]
    ) -> None:
        response = harness.get(USERS + query, token=mint("admin"))
        assert field_errors(response) == expected

    def test_range_messages_are_exact(self, harness: AppHarness) -> None:
        body = harness.get(USERS + "?limit=0&offset=-1", token=mint("admin")).json()
        assert [error["message"] for error in body["errors"]] == [
            "Must be between 1 and 100.",
            "Must be between 0 and 2147483647.",
        ]


class TestCreate:
    def test_creates_a_user_who_can_log_in(self, harness: AppHarness) -> None:
        response = harness.post(
            USERS,
            token=mint("admin"),
            json={
                "username": "night_shift",
                "password": "correct-horse-battery",
                "role": "operator",
                "full_name": "Zoë Night",
                "email": "night@resync.example",
                "ignored": "unknown fields are ignored",
            },
        )
        assert response.status_code == 201
        body = response.json()
        assert list(body) == ["id", "username", "role", "full_name", "email", "created_at"]
        assert body["full_name"] == "Zoë Night"
        assert "Zoë".encode() in response.content  # not \\u-escaped
        login = harness.post(
            "/api/v1/auth/login",
            json={"username": "night_shift", "password": "correct-horse-battery"},
        )
        assert login.status_code == 200

    def test_optional_fields_default(self, harness: AppHarness) -> None:
        response = harness.post(
            USERS,
            token=mint("admin"),
            json={"username": "minimal_user", "password": "x" * 12, "role": "viewer"},
        )
        assert response.status_code == 201
        assert (response.json()["full_name"], response.json()["email"]) == ("", None)

    def test_duplicate_username_is_409_and_changes_nothing(
        self, harness: AppHarness, module_database_url: str
    ) -> None:
        before = snapshot(module_database_url)
        response = harness.post(
            USERS,
            token=mint("admin"),
            json={"username": "operator", "password": "x" * 12, "role": "admin"},
        )
        assert_problem(response, 409, "conflict", "User operator already exists.")
        assert snapshot(module_database_url) == before

    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            pytest.param(
                {},
                [("username", "missing"), ("password", "missing"), ("role", "missing")],
                id="nothing",
            ),
            pytest.param(
                {"username": "Bad!", "password": "short", "role": "boss"},
                [
                    ("username", "invalid_format"),
                    ("password", "too_short"),
                    ("role", "invalid_choice"),
                ],
                id="bad values",
            ),
            pytest.param(
                {"username": "ab", "password": "x" * 129, "role": "viewer"},
                [("username", "invalid_format"), ("password", "too_long")],
                id="lengths",
            ),
            pytest.param(
                {"username": 1, "password": [], "role": None, "full_name": 5, "email": 5},
                [
                    ("username", "invalid_type"),
                    ("password", "invalid_type"),
                    ("role", "invalid_type"),
                    ("full_name", "invalid_type"),
                    ("email", "invalid_type"),
                ],
                id="types",
            ),
            pytest.param(
                {
                    "username": "okay_name",
                    "password": "x" * 12,
                    "role": "viewer",
                    "full_name": "x" * 101,
                    "email": "not-an-email",
                },
                [("full_name", "too_long"), ("email", "invalid_format")],
                id="optional fields",
            ),
            pytest.param(
                {
                    "username": "okay_name",
                    "password": "x" * 12,
                    "role": "viewer",
                    "email": "a" * 250 + "@b.co",
                },
                [("email", "too_long")],
                id="email too long",
            ),
        ],
    )
    def test_invalid_bodies_are_400_and_change_nothing(
        self,
        harness: AppHarness,
        module_database_url: str,
        body: dict[str, Any],
        expected: list[tuple[str, str]],
    ) -> None:
        before = snapshot(module_database_url)
        assert field_errors(harness.post(USERS, token=mint("admin"), json=body)) == expected
        assert snapshot(module_database_url) == before

    def test_role_choices_are_listed_in_contract_order(self, harness: AppHarness) -> None:
        body = harness.post(
            USERS,
            token=mint("admin"),
            json={"username": "someone", "password": "x" * 12, "role": "root"},
        ).json()
        assert body["errors"][0]["message"] == "Must be one of: viewer, operator, admin."
