"""Authentication and roles: the RBAC matrix over every endpoint, and token attacks."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.legacy_flask.harness import (
    OTHER_SECRET,
    assert_problem,
    auth,
    bearer,
    execute,
    mint,
)

ROLES = (None, "viewer", "operator", "admin")
RANK = {"viewer": 1, "operator": 2, "admin": 3}

# (method, path, JSON body or None, the role needed, the status an allowed caller gets).
# Allowed callers on writing endpoints send a body that fails validation or names nothing,
# so the matrix proves the role check passed without changing the module's database.
ENDPOINTS: list[tuple[str, str, Any, str | None, int]] = [
    ("GET", "/api/v1/auth/me", None, "viewer", 200),
    ("POST", "/api/v1/auth/logout", None, "viewer", 204),
    ("GET", "/api/v1/users", None, "admin", 200),
    ("POST", "/api/v1/users", {}, "admin", 400),
    ("GET", "/api/v1/agents", None, "viewer", 200),
    ("GET", "/api/v1/agents/tws-general", None, "viewer", 200),
    ("POST", "/api/v1/chat", {}, "operator", 400),
    ("GET", "/api/v1/chat/history", None, "viewer", 200),
    ("DELETE", "/api/v1/chat/history?agent_id=no-such-agent", None, "operator", 204),
    ("GET", "/api/v1/audit/flags", None, "viewer", 200),
    ("POST", "/api/v1/audit/review", {}, "operator", 400),
    ("GET", "/api/v1/audit/metrics", None, "viewer", 200),
    ("GET", "/api/v1/audit/export", None, "admin", 200),
    ("POST", "/api/v1/rag/upload", None, "operator", 415),
    ("GET", "/api/v1/rag/files", None, "viewer", 200),
    ("GET", "/api/v1/rag/files/no-such-file", None, "viewer", 404),
    ("DELETE", "/api/v1/rag/files/no-such-file", None, "admin", 404),
    ("GET", "/api/v1/rag/search?q=abend", None, "viewer", 200),
    ("GET", "/api/v1/status", None, "viewer", 200),
    ("GET", "/api/v1/status/workstations", None, "viewer", 200),
    ("GET", "/api/v1/status/jobs", None, "viewer", 200),
    ("GET", "/api/v1/status/jobs/J0001", None, "viewer", 200),
    ("GET", "/api/v1/status/jobs/J0001/log", None, "viewer", 200),
    ("GET", "/api/v1/status/plan", None, "viewer", 200),
    ("GET", "/health/live", None, None, 200),
    ("GET", "/health/ready", None, None, 200),
]


def _expected(needed: str | None, role: str | None, allowed_status: int) -> int:
    if needed is None:
        return allowed_status
    if role is None:
        return 401
    return allowed_status if RANK[role] >= RANK[needed] else 403


MATRIX = [
    pytest.param(
        method,
        path,
        body,
        role,
        _expected(needed, role, allowed),
        id=f"{method} {path.split('?')[0]} as {role or 'anonymous'}",
    )
    for method, path, body, needed, allowed in ENDPOINTS
    for role in ROLES
]


@pytest.mark.parametrize(("method", "path", "body", "role", "expected"), MATRIX)
def test_role_matrix(
    client: FlaskClient, method: str, path: str, body: Any, role: str | None, expected: int
) -> None:
    response = client.open(path, method=method, json=body, headers=auth(role))
    assert response.status_code == expected, response.get_data(as_text=True)
    if expected == 401:
        assert_problem(response, 401, "unauthorized", "Missing bearer token.")
        assert response.headers["WWW-Authenticate"] == "Bearer"
    elif expected == 403:
        needed = next(n for m, p, _, n, _ in ENDPOINTS if m == method and p == path)
        assert_problem(response, 403, "forbidden", f"This action requires the {needed} role.")


def _refused(client: FlaskClient, headers: dict[str, str]) -> None:
    response = client.get("/api/v1/auth/me", headers=headers)
    assert_problem(response, 401, "unauthorized", "Invalid or expired token.")
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param(dict(algorithm="HS512"), id="hs512"),
        pytest.param(dict(algorithm="HS384"), id="hs384"),
        pytest.param(dict(secret=OTHER_SECRET), id="wrong-key"),
        pytest.param(dict(iss="someone-else"), id="wrong-issuer"),
        pytest.param(dict(aud="another-api"), id="wrong-audience"),
        pytest.param(dict(issued_ago=4000), id="expired"),
        pytest.param(dict(typ="refresh"), id="refresh-as-access"),
        pytest.param(dict(typ="id"), id="unknown-type"),
        pytest.param(dict(drop=("sid",)), id="no-sid"),
        pytest.param(dict(drop=("jti",)), id="no-jti"),
        pytest.param(dict(drop=("exp",)), id="no-expiry"),
        pytest.param(dict(drop=("iss",)), id="no-issuer"),
        pytest.param(dict(role="viewer"), id="role-claim-differs-from-user"),
        pytest.param(dict(sub="ghost"), id="unknown-user"),
        pytest.param(dict(sub=42), id="non-string-subject"),
        pytest.param(dict(raw="not.a.jwt"), id="garbage"),
        pytest.param(dict(tamper=True), id="tampered-signature"),
    ],
)
def test_bad_tokens_are_refused(client: FlaskClient, changes: dict[str, Any]) -> None:
    changes = dict(changes)
    raw = changes.pop("raw", None)
    tamper = changes.pop("tamper", False)
    token = raw or mint("admin", **changes)
    if tamper:
        token = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    _refused(client, bearer(token))


def _unsigned(payload_token: str) -> str:
    """Re-encode a token's claims with ``alg: none`` and no signature."""
    import base64
    import json

    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = payload_token.split(".")[1]
    return f"{header.decode().rstrip('=')}.{body}."


def test_alg_none_is_refused(client: FlaskClient) -> None:
    _refused(client, bearer(_unsigned(mint("admin"))))


def test_expired_token_within_leeway_is_accepted(client: FlaskClient) -> None:
    token = mint("viewer", issued_ago=1810)  # expired 10 s ago, leeway is 30 s
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("", id="empty"),
        pytest.param("Basic YWRtaW46cGFzcw==", id="basic-scheme"),
        pytest.param("Bearer", id="no-token"),
        pytest.param("Bearer a b", id="two-tokens"),
        pytest.param("Token abc", id="other-scheme"),
    ],
)
def test_malformed_authorization_is_missing_token(client: FlaskClient, header: str) -> None:
    response = client.get("/api/v1/auth/me", headers={"Authorization": header})
    assert_problem(response, 401, "unauthorized", "Missing bearer token.")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_bearer_scheme_is_case_insensitive(client: FlaskClient) -> None:
    response = client.get("/api/v1/auth/me", headers={"Authorization": f"bearer {mint('viewer')}"})
    assert response.status_code == 200


@pytest.mark.parametrize("which", ["jti", "sid"])
def test_revoked_token_is_refused(client: FlaskClient, db_path: str, which: str) -> None:
    import uuid

    sid, jti = uuid.uuid4().hex, uuid.uuid4().hex
    token = mint("viewer", sid=sid, jti=jti)
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200
    execute(
        db_path,
        "INSERT INTO revoked_tokens (token_id, revoked_at, expires_at)"
        " VALUES (:t, '2026-01-01 00:00:00', '2099-01-01 00:00:00')",
        t=sid if which == "sid" else jti,
    )
    _refused(client, bearer(token))


def test_deleted_user_token_is_refused(client: FlaskClient, db_path: str) -> None:
    execute(
        db_path,
        "INSERT INTO users (username, password_hash, role, full_name, created_at)"
        " VALUES ('leaver', 'x', 'viewer', '', '2026-01-01 00:00:00')",
    )
    token = mint("leaver", "viewer")
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200
    execute(db_path, "DELETE FROM users WHERE username = 'leaver'")
    _refused(client, bearer(token))


def test_demoted_user_token_is_refused(client: FlaskClient, db_path: str) -> None:
    execute(
        db_path,
        "INSERT INTO users (username, password_hash, role, full_name, created_at)"
        " VALUES ('demoted', 'x', 'admin', '', '2026-01-01 00:00:00')",
    )
    token = mint("demoted", "admin")
    assert client.get("/api/v1/users", headers=bearer(token)).status_code == 200
    execute(db_path, "UPDATE users SET role = 'viewer' WHERE username = 'demoted'")
    response = client.get("/api/v1/users", headers=bearer(token))
    assert_problem(response, 401, "unauthorized", "Invalid or expired token.")
