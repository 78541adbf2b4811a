"""Parity scenarios for ``/api/v1/users`` (admin only): list and create."""

from __future__ import annotations

from resync_scenarios.builders import A, by_role, pagination
from resync_scenarios.model import Scenario

__all__ = ["scenarios"]


def scenarios() -> list[Scenario]:
    """Return the users scenarios, in suite order."""
    s: list[Scenario] = []

    # --- users ------------------------------------------------------------------------------
    s += by_role("users-list", "GET /api/v1/users", f"{A}/users", "admin")
    s += pagination("users-list", "GET /api/v1/users", f"{A}/users", "admin")
    create = "POST /api/v1/users"
    good_user = {
        "username": "new_user-1",
        "password": "a-long-password-1",
        "role": "operator",
        "full_name": "Nia Ops",
        "email": "nia@example.com",
    }
    s += by_role("users-create", create, f"{A}/users", "admin", ok=201, json=good_user)
    s += [
        Scenario(
            "users-create-minimal",
            create,
            f"{A}/users",
            auth="admin",
            expect=201,
            json={"username": "min", "password": "twelve-chars", "role": "viewer"},
        ),
        Scenario(
            "users-create-duplicate",
            create,
            f"{A}/users",
            auth="admin",
            expect=409,
            json={**good_user, "username": "admin"},
        ),
        Scenario(
            "users-create-bad-username",
            create,
            f"{A}/users",
            auth="admin",
            expect=400,
            json={**good_user, "username": "Bad Name"},
        ),
        Scenario(
            "users-create-short-username",
            create,
            f"{A}/users",
            auth="admin",
            expect=400,
            json={**good_user, "username": "ab"},
        ),
        Scenario(
            "users-create-short-password",
            create,
            f"{A}/users",
            auth="admin",
            expect=400,
            json={**good_user, "password": "short"},
        ),
        Scenario(
            "users-create-long-password",
            create,
            f"{A}/users",
            auth="admin",
            expect=400,
            json={**good_user, "password": "p" * 129},
        ),
        Scenario(
            "users-create-bad-role",
            create,
            f"{A}/users",
            auth="admin",
            expect=400,
            json={**good_user, "role": "root"},
        ),
        Scenario(
            "users-create-bad-email",
            create,
            f"{A}/users",
            auth="admin",
            expect=400,
            json={**good_user, "email": "not-an-email"},
        ),
        Scenario(
            "users-create-long-full-name",
            create,
            f"{A}/users",
            auth="admin",
            expect=400,
            json={**good_user, "full_name": "n" * 101},
        ),
        Scenario(
            "users-create-all-missing", create, f"{A}/users", auth="admin", expect=400, json={}
        ),
        Scenario(
            "users-create-wrong-types",
            create,
            f"{A}/users",
            auth="admin",
            expect=400,
            json={"username": 1, "password": ["x"], "role": None, "email": 5},
        ),
        Scenario(
            "users-create-unicode-name",
            create,
            f"{A}/users",
            auth="admin",
            expect=201,
            json={**good_user, "full_name": "Zoë Ørsted 東京"},
        ),
        Scenario(
            "users-create-malformed-json",
            create,
            f"{A}/users",
            auth="admin",
            expect=400,
            body=b'{"username": "x",}',
            content_type="application/json",
        ),
        Scenario(
            "users-create-form",
            create,
            f"{A}/users",
            auth="admin",
            expect=415,
            body=b"username=x",
            content_type="application/x-www-form-urlencoded",
        ),
        Scenario(
            "users-create-then-list",
            "GET /api/v1/users",
            f"{A}/users",
            auth="admin",
            expect=200,
            before=(Scenario("users-step", create, f"{A}/users", auth="admin", json=good_user),),
        ),
        Scenario(
            "users-put-405",
            "GET /api/v1/users",
            f"{A}/users",
            auth="admin",
            method="PUT",
            expect=405,
        ),
    ]
    return s
