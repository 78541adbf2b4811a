"""``/auth``: login (JSON and OAuth2 form), lockout, refresh rotation, logout, me, token attacks."""

from __future__ import annotations

import time
import uuid
import warnings
from typing import Any

import jwt
import jwt.warnings
import pytest

from tests.resync_fastapi.harness import (
    OTHER_SECRET,
    SECRET,
    AppHarness,
    assert_problem,
    execute,
    field_errors,
    mint,
    snapshot,
)

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, SECRET, algorithms=["HS256"], audience="resync-api", issuer="resync")


def _login(harness: AppHarness, username: str, password: str, client: str = "10.0.0.1") -> Any:
    return harness.post(LOGIN, json={"username": username, "password": password}, client=client)


class TestLogin:
    def test_json_login_returns_a_token_pair_sharing_a_session(self, harness: AppHarness) -> None:
        response = _login(harness, "operator", "resync-operator-dev")
        assert response.status_code == 200
        body = response.json()
        assert list(body) == ["access_token", "refresh_token", "token_type", "expires_in"]
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 1800
        access, refresh = _claims(body["access_token"]), _claims(body["refresh_token"])
        assert access["sub"] == refresh["sub"] == "operator"
        assert access["role"] == "operator"
        assert (access["typ"], refresh["typ"]) == ("access", "refresh")
        assert access["sid"] == refresh["sid"] and len(access["sid"]) == 32
        assert access["jti"] != refresh["jti"] and len(access["jti"]) == 32
        assert access["exp"] - access["iat"] == 1800
        assert refresh["exp"] - refresh["iat"] == 7 * 24 * 3600
        assert jwt.get_unverified_header(body["access_token"])["alg"] == "HS256"

    def test_oauth2_password_form_logs_in(self, harness: AppHarness) -> None:
        response = harness.post(
            LOGIN,
            data={"grant_type": "password", "username": "viewer", "password": "resync-viewer-dev"},
            client="10.0.0.2",
        )
        assert response.status_code == 200
        me = harness.get(ME, token=response.json()["access_token"])
        assert me.json()["username"] == "viewer"

    @pytest.mark.parametrize(
        ("username", "password"),
        [
            pytest.param("operator", "wrong-password", id="wrong password"),
            pytest.param("nobody", "whatever", id="unknown user"),
        ],
    )
    def test_bad_credentials_are_401_and_recorded(
        self, harness: AppHarness, module_database_url: str, username: str, password: str
    ) -> None:
        client = f"10.1.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
        response = _login(harness, username, password, client)
        assert_problem(response, 401, "unauthorized", "Invalid username or password.")
        assert response.headers["www-authenticate"] == "Bearer"
        rows = execute(
            module_database_url,
            "SELECT succeeded FROM login_attempts WHERE username = :u AND client_addr = :c",
            u=username,
            c=client,
        )
        assert [bool(row[0]) for row in rows] == [False]

    @pytest.mark.parametrize(
        ("kwargs", "expected"),
        [
            pytest.param(
                {"json": {}}, [("username", "missing"), ("password", "missing")], id="empty"
            ),
            pytest.param(
                {"json": {"username": 5, "password": None}},
                [("username", "invalid_type"), ("password", "invalid_type")],
                id="wrong types",
            ),
            pytest.param(
                {"json": {"username": "", "password": "x" * 129}},
                [("username", "too_short"), ("password", "too_long")],
                id="lengths",
            ),
            pytest.param({"json": [1, 2]}, [("body", "invalid_type")], id="not an object"),
            pytest.param(
                {"content": b"{", "headers": {"Content-Type": "application/json"}},
                [("body", "invalid_format")],
                id="malformed",
            ),
            pytest.param({"data": {"username": "admin"}}, [("password", "missing")], id="form"),
        ],
    )
    def test_invalid_login_bodies_are_400_and_record_nothing(
        self,
        harness: AppHarness,
        module_database_url: str,
        kwargs: dict[str, Any],
        expected: list[tuple[str, str]],
    ) -> None:
        before = snapshot(module_database_url)
        assert field_errors(harness.post(LOGIN, **kwargs)) == expected
        assert snapshot(module_database_url) == before

    def test_other_content_types_are_415(
        self, harness: AppHarness, module_database_url: str
    ) -> None:
        before = snapshot(module_database_url)
        response = harness.post(
            LOGIN, content=b"username=a", headers={"Content-Type": "text/plain"}
        )
        assert_problem(response, 415, "unsupported-media-type", "Expected application/json.")
        assert snapshot(module_database_url) == before


class TestLockout:
    def test_five_failures_lock_the_pair_even_for_the_right_password(
        self, harness: AppHarness, module_database_url: str
    ) -> None:
        client = "10.9.9.1"
        for _ in range(5):
            assert _login(harness, "viewer", "nope", client).status_code == 401
        before = snapshot(module_database_url)
        locked = _login(harness, "viewer", "resync-viewer-dev", client)
        assert_problem(
            locked, 429, "rate-limited", "Too many failed login attempts. Try again later."
        )
        assert 1 <= int(locked.headers["retry-after"]) <= 900
        assert snapshot(module_database_url) == before  # a locked attempt is not recorded
        # Another client address is not locked out.
        assert _login(harness, "viewer", "resync-viewer-dev", "10.9.9.2").status_code == 200

    def test_a_success_resets_the_failure_count(self, harness: AppHarness) -> None:
        client = "10.9.9.3"
        for _ in range(4):
            assert _login(harness, "operator", "nope", client).status_code == 401
        assert _login(harness, "operator", "resync-operator-dev", client).status_code == 200
        for _ in range(4):
            assert _login(harness, "operator", "nope", client).status_code == 401
        assert _login(harness, "operator", "resync-operator-dev", client).status_code == 200

    def test_retry_after_counts_from_the_fifth_most_recent_failure(
        self, harness: AppHarness, module_database_url: str
    ) -> None:
        client = "10.9.9.4"
        # Five failures recorded 10 minutes ago: the lock ends in about 5 minutes.
        for _ in range(5):
            execute(
                module_database_url,
                "INSERT INTO login_attempts (username, client_addr, succeeded, attempted_at)"
                " VALUES ('admin', :c, :s, :t)",
                c=client,
                s=False,
                t=_utc_ago(600),
            )
        locked = _login(harness, "admin", "resync-admin-dev", client)
        assert locked.status_code == 429
        assert 290 <= int(locked.headers["retry-after"]) <= 301

    def test_failures_older_than_the_window_do_not_count(
        self, harness: AppHarness, module_database_url: str
    ) -> None:
        client = "10.9.9.5"
        for _ in range(5):
            execute(
                module_database_url,
                "INSERT INTO login_attempts (username, client_addr, succeeded, attempted_at)"
                " VALUES ('admin', :c, :s, :t)",
                c=client,
                s=False,
                t=_utc_ago(16 * 60),
            )
        assert _login(harness, "admin", "resync-admin-dev", client).status_code == 200


def _quietly(function: Any, *args: Any, **kwargs: Any) -> Any:
    # pyjwt warns that the test secret is short for HS512; the point is the algorithm.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return function(*args, **kwargs)


def _utc_ago(seconds: int) -> Any:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(seconds=seconds)).replace(tzinfo=None, microsecond=0)


class TestRefreshAndLogout:
    def test_refresh_rotates_and_revokes_the_old_refresh_token(self, harness: AppHarness) -> None:
        pair = _login(harness, "admin", "resync-admin-dev", "10.2.0.1").json()
        rotated = harness.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
        assert rotated.status_code == 200
        new_pair = rotated.json()
        assert list(new_pair) == ["access_token", "refresh_token", "token_type", "expires_in"]
        assert harness.get(ME, token=new_pair["access_token"]).status_code == 200
        again = harness.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
        assert_problem(again, 401, "unauthorized", "Invalid or expired token.")
        assert again.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        # The new refresh token still works once.
        assert (
            harness.post(REFRESH, json={"refresh_token": new_pair["refresh_token"]}).status_code
            == 200
        )

    @pytest.mark.parametrize(
        "token",
        [
            pytest.param(lambda: mint("admin"), id="an access token"),
            pytest.param(lambda: "not.a.jwt", id="garbage"),
            pytest.param(lambda: mint("admin", typ="refresh", secret=OTHER_SECRET), id="wrong key"),
            pytest.param(lambda: mint("ghost", "admin", typ="refresh"), id="unknown user"),
        ],
    )
    def test_refresh_refuses_anything_but_a_valid_refresh_token(
        self, harness: AppHarness, token: Any
    ) -> None:
        response = harness.post(REFRESH, json={"refresh_token": token()})
        assert_problem(response, 401, "unauthorized", "Invalid or expired token.")

    def test_refresh_validates_its_body(
        self, harness: AppHarness, module_database_url: str
    ) -> None:
        before = snapshot(module_database_url)
        assert field_errors(harness.post(REFRESH, json={})) == [("refresh_token", "missing")]
        assert field_errors(harness.post(REFRESH, json={"refresh_token": 1})) == [
            ("refresh_token", "invalid_type")
        ]
        assert snapshot(module_database_url) == before

    def test_logout_revokes_the_access_token_and_its_refresh_token(
        self, harness: AppHarness
    ) -> None:
        pair = _login(harness, "viewer", "resync-viewer-dev", "10.2.0.2").json()
        response = harness.post(LOGOUT, token=pair["access_token"])
        assert response.status_code == 204
        assert response.content == b""
        assert_problem(harness.get(ME, token=pair["access_token"]), 401, "unauthorized")
        refused = harness.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
        assert_problem(refused, 401, "unauthorized", "Invalid or expired token.")

    def test_logout_without_a_token_is_401(self, harness: AppHarness) -> None:
        assert_problem(harness.post(LOGOUT), 401, "unauthorized", "Missing bearer token.")


def test_me_shows_the_caller(harness: AppHarness) -> None:
    response = harness.get(ME, token=mint("operator"))
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["id", "username", "role", "full_name", "email", "created_at"]
    assert body["username"] == "operator"
    assert body["role"] == "operator"
    assert body["email"] == "operator@resync.example"
    assert body["created_at"].endswith("Z") and len(body["created_at"]) == 20


class TestTokenAttacks:
    @pytest.mark.parametrize(
        "make_token",
        [
            pytest.param(
                lambda: jwt.encode(
                    {"sub": "admin", "role": "admin", "typ": "access"}, key="", algorithm="none"
                ),
                id="alg none",
            ),
            pytest.param(
                lambda: _quietly(mint, "admin", algorithm="HS512"), id="another algorithm"
            ),
            pytest.param(lambda: mint("admin", secret=OTHER_SECRET), id="wrong key"),
            pytest.param(lambda: mint("admin", iss="someone-else"), id="wrong issuer"),
            pytest.param(lambda: mint("admin", aud="another-api"), id="wrong audience"),
            pytest.param(lambda: mint("admin", issued_ago=3600), id="expired"),
            pytest.param(lambda: mint("admin", typ="refresh"), id="refresh token as access"),
            pytest.param(lambda: mint("admin", drop=("jti",)), id="no jti"),
            pytest.param(lambda: mint("admin", drop=("exp",)), id="no expiry"),
            pytest.param(lambda: mint("admin", drop=("sid",)), id="no sid"),
            pytest.param(lambda: mint("admin", jti=""), id="empty jti"),
            pytest.param(lambda: mint("admin", sid="s" * 65), id="sid over 64 characters"),
            pytest.param(lambda: mint("admin", role=7), id="role not a string"),
            pytest.param(lambda: mint("admin", role="viewer"), id="role differs from the user's"),
            pytest.param(lambda: mint("ghost", "admin"), id="unknown user"),
            pytest.param(lambda: mint("admin")[:-4] + "AAAA", id="tampered signature"),
        ],
    )
    def test_refused_tokens_are_401_invalid_token(
        self, harness: AppHarness, make_token: Any
    ) -> None:
        response = harness.get(ME, token=make_token())
        assert_problem(response, 401, "unauthorized", "Invalid or expired token.")
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'

    def test_expiry_has_thirty_seconds_of_leeway(self, harness: AppHarness) -> None:
        assert harness.get(ME, token=mint("admin", issued_ago=1800 + 10)).status_code == 200

    @pytest.mark.parametrize("claim", ["jti", "sid"])
    def test_a_revoked_jti_or_sid_is_refused(
        self, harness: AppHarness, module_database_url: str, claim: str
    ) -> None:
        token_id = uuid.uuid4().hex
        token = mint("operator", **{claim: token_id})
        assert harness.get(ME, token=token).status_code == 200
        execute(
            module_database_url,
            "INSERT INTO revoked_tokens (token_id, revoked_at, expires_at) VALUES (:t, :r, :e)",
            t=token_id,
            r=_utc_ago(0),
            e=_utc_ago(-3600),
        )
        assert_problem(harness.get(ME, token=token), 401, "unauthorized")

    def test_a_deleted_users_token_is_refused(
        self, harness: AppHarness, module_database_url: str
    ) -> None:
        execute(
            module_database_url,
            "INSERT INTO users (username, password_hash, role, full_name, created_at)"
            " VALUES ('short_lived', 'x', 'viewer', '', :c)",
            c=_utc_ago(0),
        )
        token = mint("short_lived", "viewer")
        assert harness.get(ME, token=token).status_code == 200
        execute(module_database_url, "DELETE FROM users WHERE username = 'short_lived'")
        assert_problem(harness.get(ME, token=token), 401, "unauthorized")

    @pytest.mark.parametrize(
        "header",
        [
            pytest.param("Basic YWRtaW46eA==", id="basic scheme"),
            pytest.param("Bearer", id="scheme only"),
            pytest.param("Bearer ", id="empty token"),
            pytest.param("", id="empty header"),
            pytest.param(f"Bearer {mint('admin')} extra", id="three parts"),
            pytest.param(f"Token {mint('admin')}", id="another scheme"),
        ],
    )
    def test_missing_or_malformed_authorization_is_missing_token(
        self, harness: AppHarness, header: str
    ) -> None:
        response = harness.get(ME, headers={"Authorization": header})
        assert_problem(response, 401, "unauthorized", "Missing bearer token.")
        assert response.headers["www-authenticate"] == "Bearer"

    @pytest.mark.parametrize(
        "template",
        ["bearer {}", "BEARER {}", "Bearer   {}", "Bearer\t{}"],
        ids=["lower", "upper", "spaces", "tab"],
    )
    def test_the_scheme_is_case_insensitive_and_whitespace_separated(
        self, harness: AppHarness, template: str
    ) -> None:
        headers = {"Authorization": template.format(mint("viewer"))}
        assert harness.get(ME, headers=headers).status_code == 200

    def test_a_token_signed_independently_of_the_app_is_accepted(self, harness: AppHarness) -> None:
        now = int(time.time())
        token = jwt.encode(
            {
                "iss": "resync",
                "aud": "resync-api",
                "sub": "viewer",
                "role": "viewer",
                "typ": "access",
                "jti": uuid.uuid4().hex,
                "sid": uuid.uuid4().hex,
                "iat": now,
                "exp": now + 60,
            },
            SECRET,
            algorithm="HS256",
        )
        assert harness.get(ME, token=token).json()["username"] == "viewer"
