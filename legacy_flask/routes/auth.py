"""Log in (JSON or the OAuth2 password form), refresh, log out, and say who I am."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, g, request
from sqlalchemy.exc import IntegrityError

from legacy_flask.access import (
    INVALID_TOKEN,
    current_user,
    load_user,
    require_role,
)
from legacy_flask.app_state import state
from legacy_flask.database import RequestTransaction, db, utcnow
from legacy_flask.encoding import json_response, no_content
from legacy_flask.errors import RateLimited, Unauthorized
from legacy_flask.tables import login_attempts, revoked_tokens, users
from legacy_flask.tokens import ACCESS_TTL, REFRESH_TTL, InvalidToken, TokenPair
from legacy_flask.validation import FieldErrors, read_json_object, read_login_fields

__all__ = ["bp"]

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")

LOCKOUT_WINDOW = timedelta(minutes=15)
LOCKOUT_FAILURES = 5
BAD_CREDENTIALS = "Invalid username or password."
LOCKED_OUT = "Too many failed login attempts. Try again later."


def _pair_body(pair: TokenPair) -> dict[str, Any]:
    return {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "token_type": "bearer",
        "expires_in": int(ACCESS_TTL.total_seconds()),
    }


def _lockout_retry_after(username: str, client: str, now: datetime) -> int | None:
    """Seconds until this (username, client) may try again, or None when it is not locked."""
    last_success = (
        db()
        .execute(
            sa.select(sa.func.max(login_attempts.c.attempted_at)).where(
                login_attempts.c.username == username,
                login_attempts.c.client_addr == client,
                login_attempts.c.succeeded.is_(True),
            )
        )
        .scalar()
    )
    since = now - LOCKOUT_WINDOW
    if last_success is not None and last_success > since:
        since = last_success
    failures = (
        db()
        .execute(
            sa.select(login_attempts.c.attempted_at)
            .where(
                login_attempts.c.username == username,
                login_attempts.c.client_addr == client,
                login_attempts.c.succeeded.is_(False),
                login_attempts.c.attempted_at > since,
            )
            .order_by(login_attempts.c.attempted_at.desc(), login_attempts.c.id.desc())
            .limit(LOCKOUT_FAILURES)
        )
        .scalars()
        .all()
    )
    if len(failures) < LOCKOUT_FAILURES:
        return None
    remaining = failures[-1] + LOCKOUT_WINDOW - now
    return max(1, int(remaining.total_seconds()))


@bp.post("/login")
def login() -> Response:
    body = read_login_fields()
    fields = FieldErrors()
    username = fields.string(body, "username", min_length=1, max_length=128)
    password = fields.string(body, "password", min_length=1, max_length=128)
    fields.raise_if_any()
    assert username is not None and password is not None
    client = (request.remote_addr or "")[:64]
    now = utcnow()
    retry_after = _lockout_retry_after(username, client, now)
    if retry_after is not None:
        raise RateLimited(LOCKED_OUT, retry_after=retry_after)
    user = db().execute(sa.select(users).where(users.c.username == username)).first()
    app_state = state()
    ok = app_state.passwords.verify(user.password_hash if user else None, password)
    db().execute(
        login_attempts.insert().values(
            username=username, client_addr=client, succeeded=ok, attempted_at=now
        )
    )
    if not ok or user is None:
        transaction: RequestTransaction = g.transaction
        transaction.commit_now()  # the failure must count even though the answer is a 401
        raise Unauthorized(BAD_CREDENTIALS)
    return json_response(_pair_body(app_state.tokens.issue_pair(user.username, user.role)))


@bp.post("/refresh")
def refresh() -> Response:
    body = read_json_object()
    fields = FieldErrors()
    token = fields.string(body, "refresh_token")
    fields.raise_if_any()
    assert token is not None
    app_state = state()
    try:
        claims = app_state.tokens.verify(token, "refresh")
    except InvalidToken as exc:
        raise Unauthorized(INVALID_TOKEN, invalid_token=True) from exc
    user = load_user(claims)
    try:
        db().execute(
            revoked_tokens.insert().values(
                token_id=claims.jti, revoked_at=utcnow(), expires_at=claims.expires_at
            )
        )
    except IntegrityError as exc:  # the same refresh token used twice at once
        raise Unauthorized(INVALID_TOKEN, invalid_token=True) from exc
    return json_response(_pair_body(app_state.tokens.issue_pair(user.username, user.role)))


@bp.post("/logout")
@require_role("viewer")
def logout() -> Response:
    claims = current_user().claims
    # The pair's refresh token was issued with the access token and lives 7 days from then.
    expires_at = claims.issued_at + REFRESH_TTL
    try:
        db().execute(
            revoked_tokens.insert().values(
                token_id=claims.sid, revoked_at=utcnow(), expires_at=expires_at
            )
        )
    except IntegrityError as exc:  # logged out concurrently: the token is revoked either way
        raise Unauthorized(INVALID_TOKEN, invalid_token=True) from exc
    return no_content()


@bp.get("/me")
@require_role("viewer")
def me() -> Response:
    return json_response(current_user().as_json())
