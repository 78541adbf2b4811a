"""Parity scenarios for ``/api/v1/auth``: login (JSON and form), refresh, logout, me."""

from __future__ import annotations

from resync_scenarios.builders import LOGIN, A, broken_credentials, by_role
from resync_scenarios.model import ROLES, Scenario

__all__ = ["scenarios"]

_login_fail = Scenario(
    "login-fail-step",
    "POST /api/v1/auth/login",
    LOGIN,
    json={"username": "operator", "password": "wrong-password-1"},
)


def scenarios() -> list[Scenario]:
    """Return the auth scenarios, in suite order."""
    s: list[Scenario] = []

    # --- auth -------------------------------------------------------------------------------
    login = "POST /api/v1/auth/login"
    for role in ROLES:
        s.append(
            Scenario(
                f"login-{role}",
                login,
                LOGIN,
                expect=200,
                json={"username": role, "password": f"resync-{role}-dev"},
            )
        )
    s += [
        Scenario(
            "login-form",
            login,
            LOGIN,
            expect=200,
            body=b"grant_type=password&username=viewer&password=resync-viewer-dev&scope=",
            content_type="application/x-www-form-urlencoded",
        ),
        Scenario(
            "login-form-bad-password",
            login,
            LOGIN,
            expect=401,
            body=b"username=viewer&password=nope",
            content_type="application/x-www-form-urlencoded",
        ),
        Scenario(
            "login-form-missing-password",
            login,
            LOGIN,
            expect=400,
            body=b"username=viewer",
            content_type="application/x-www-form-urlencoded",
        ),
        Scenario(
            "login-bad-password",
            login,
            LOGIN,
            expect=401,
            json={"username": "viewer", "password": "not-the-password"},
        ),
        Scenario(
            "login-unknown-user",
            login,
            LOGIN,
            expect=401,
            json={"username": "nobody", "password": "whatever-password"},
        ),
        Scenario("login-missing-fields", login, LOGIN, expect=400, json={}),
        Scenario("login-missing-password", login, LOGIN, expect=400, json={"username": "viewer"}),
        Scenario(
            "login-username-number",
            login,
            LOGIN,
            expect=400,
            json={"username": 42, "password": "x"},
        ),
        Scenario(
            "login-empty-username", login, LOGIN, expect=400, json={"username": "", "password": "x"}
        ),
        Scenario(
            "login-username-too-long",
            login,
            LOGIN,
            expect=400,
            json={"username": "u" * 129, "password": "x"},
        ),
        Scenario(
            "login-password-too-long",
            login,
            LOGIN,
            expect=400,
            json={"username": "viewer", "password": "p" * 129},
        ),
        Scenario(
            "login-malformed-json",
            login,
            LOGIN,
            expect=400,
            body=b'{"username": "viewer", ',
            content_type="application/json",
        ),
        Scenario("login-json-array", login, LOGIN, expect=400, json=["viewer", "x"]),
        Scenario(
            "login-text-plain",
            login,
            LOGIN,
            expect=415,
            body=b"username=viewer",
            content_type="text/plain",
        ),
        Scenario(
            "login-json-charset",
            login,
            LOGIN,
            expect=200,
            json={"username": "viewer", "password": "resync-viewer-dev"},
            content_type="application/json; charset=utf-8",
        ),
        Scenario(
            "login-body-too-large",
            login,
            LOGIN,
            expect=413,
            body=b'{"username":"' + b"x" * (1024 * 1024) + b'"}',
            content_type="application/json",
        ),
        Scenario(
            "login-lockout",
            login,
            LOGIN,
            expect=429,
            json={"username": "operator", "password": "resync-operator-dev"},
            before=(_login_fail,) * 5,
        ),
        Scenario(
            "login-four-failures-then-success",
            login,
            LOGIN,
            expect=200,
            json={"username": "operator", "password": "resync-operator-dev"},
            before=(_login_fail,) * 4,
        ),
        Scenario("login-get-405", login, LOGIN, method="GET", expect=405),
    ]

    refresh = "POST /api/v1/auth/refresh"
    path = f"{A}/auth/refresh"
    s += [
        Scenario(
            "refresh-viewer", refresh, path, expect=200, json={"refresh_token": "refresh:viewer"}
        ),
        Scenario(
            "refresh-admin-issued-by-new",
            refresh,
            path,
            expect=200,
            json={"refresh_token": "refresh:admin@new"},
        ),
        Scenario(
            "refresh-reused",
            refresh,
            path,
            expect=401,
            json={"refresh_token": "refresh:operator"},
            before=(
                Scenario("refresh-step", refresh, path, json={"refresh_token": "refresh:operator"}),
            ),
        ),
        Scenario(
            "refresh-with-access-token",
            refresh,
            path,
            expect=401,
            json={"refresh_token": "access:viewer"},
        ),
        Scenario("refresh-garbage", refresh, path, expect=401, json={"refresh_token": "abc"}),
        Scenario("refresh-missing", refresh, path, expect=400, json={}),
        Scenario("refresh-number", refresh, path, expect=400, json={"refresh_token": 5}),
        Scenario(
            "refresh-malformed-json",
            refresh,
            path,
            expect=400,
            body=b"{",
            content_type="application/json",
        ),
        Scenario(
            "refresh-text-plain", refresh, path, expect=415, body=b"x", content_type="text/plain"
        ),
    ]

    logout = "POST /api/v1/auth/logout"
    path = f"{A}/auth/logout"
    s += by_role("logout", logout, path, "viewer", ok=204)
    s += broken_credentials("logout", logout, path)
    logout_step = Scenario("logout-step", logout, path, auth="viewer")
    s += [
        Scenario(
            "me-after-logout",
            "GET /api/v1/auth/me",
            f"{A}/auth/me",
            auth="viewer",
            expect=401,
            before=(logout_step,),
        ),
        Scenario(
            "refresh-after-logout",
            refresh,
            f"{A}/auth/refresh",
            expect=401,
            json={"refresh_token": "refresh:viewer"},
            before=(logout_step,),
        ),
        Scenario("logout-twice", logout, path, auth="viewer", expect=401, before=(logout_step,)),
    ]

    me = "GET /api/v1/auth/me"
    s += by_role("me", me, f"{A}/auth/me", "viewer")
    s += broken_credentials("me", me, f"{A}/auth/me")
    s += [
        Scenario(f"me-issued-by-new-{role}", me, f"{A}/auth/me", auth=f"{role}@new", expect=200)
        for role in ROLES
    ]
    s += [
        Scenario("me-lowercase-bearer", me, f"{A}/auth/me", auth="lowercase-bearer:viewer"),
        Scenario("me-head", me, f"{A}/auth/me", auth="viewer", method="HEAD", expect=200),
        Scenario("me-trailing-slash", me, f"{A}/auth/me/", auth="viewer", expect=404),
        Scenario(
            "me-request-id-kept",
            me,
            f"{A}/auth/me",
            auth="viewer",
            expect=200,
            headers=(("X-Request-ID", "parity-req.01_A"),),
        ),
        Scenario(
            "me-request-id-invalid",
            me,
            f"{A}/auth/me",
            auth="viewer",
            expect=200,
            headers=(("X-Request-ID", "not valid!"),),
        ),
    ]
    return s
