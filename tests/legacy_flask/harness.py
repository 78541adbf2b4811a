"""Test harness for the legacy app: tokens signed like the contract says, database snapshots,
problem assertions. Tokens are minted directly (the contract lets either app's tokens in), which
keeps argon2 out of most tests.
"""

from __future__ import annotations

import time
import uuid
import warnings
from typing import Any

import jwt
import jwt.warnings
import sqlalchemy as sa
from argon2 import PasswordHasher

import migrations

SECRET = "legacy-flask-test-secret-key-0123456789abcdef"
OTHER_SECRET = "another-secret-key-that-is-long-enough-0123456789"
PASSWORDS = {
    "admin": "resync-admin-dev",
    "operator": "resync-operator-dev",
    "viewer": "resync-viewer-dev",
}
TABLES = (
    "users",
    "revoked_tokens",
    "login_attempts",
    "agents",
    "chat_messages",
    "audit_items",
    "rag_files",
    "rag_chunks",
)


def mint(
    username: str,
    role: str | None = None,
    *,
    typ: str = "access",
    secret: str = SECRET,
    algorithm: str = "HS256",
    lifetime: int = 1800,
    issued_ago: int = 0,
    sid: str | None = None,
    drop: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    """Sign a token the way the contract describes (tests control every claim)."""
    now = int(time.time()) - issued_ago
    payload: dict[str, Any] = {
        "iss": "resync",
        "aud": "resync-api",
        "sub": username,
        "role": role or username,
        "typ": typ,
        "jti": uuid.uuid4().hex,
        "sid": sid or uuid.uuid4().hex,
        "iat": now,
        "exp": now + lifetime,
    }
    payload.update(claims)
    for key in drop:
        payload.pop(key, None)
    with warnings.catch_warnings():
        # Attack tokens (HS384/HS512 with a short key) make PyJWT warn; that is the point.
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode(payload, secret, algorithm=algorithm)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def auth(role: str | None) -> dict[str, str]:
    """Headers for a seeded user of ``role`` (its username is the role), or none."""
    return {} if role is None else bearer(mint(role))


def snapshot(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order: equal snapshots mean nothing changed."""
    engine = sa.create_engine(migrations.sync_engine_url(database_url), poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return {
                table: [
                    tuple(row)
                    for row in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1"))  # noqa: S608
                ]
                for table in TABLES
            }
    finally:
        engine.dispose()


def query(database_url: str, sql: str, **params: Any) -> list[sa.Row[Any]]:
    """Run a read-only query against the test database."""
    engine = sa.create_engine(migrations.sync_engine_url(database_url), poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params))
    finally:
        engine.dispose()


def execute(database_url: str, sql: str, **params: Any) -> None:
    """Change the test database directly (set-up only)."""
    engine = sa.create_engine(migrations.sync_engine_url(database_url), poolclass=sa.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql), params)
    finally:
        engine.dispose()


def execute_many(database_url: str, sql: str, rows: list[dict[str, Any]]) -> None:
    """Run one statement for many rows in one transaction (set-up only)."""
    engine = sa.create_engine(migrations.sync_engine_url(database_url), poolclass=sa.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql), rows)
    finally:
        engine.dispose()


def assert_problem(
    response: Any, status: int, slug: str, detail: str | None = None
) -> dict[str, Any]:
    """Check a problem+json answer and return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["type"] == f"urn:resync:problem:{slug}"
    assert body["status"] == status
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert list(body)[:6] == ["type", "title", "status", "detail", "instance", "request_id"]
    if detail is not None:
        assert body["detail"] == detail
    return dict(body)


def field_errors(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(error["field"], error["code"]) for error in body["errors"]]


_CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def cheapen_password_hashes(database_url: str) -> None:
    """Re-hash the seeded users' passwords with tiny argon2id parameters (tests only)."""
    for username, password in PASSWORDS.items():
        execute(
            database_url,
            "UPDATE users SET password_hash = :h WHERE username = :u",
            h=_CHEAP_HASHER.hash(password),
            u=username,
        )
