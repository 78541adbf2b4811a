"""Authenticate the bearer token and enforce the role an endpoint needs.

A token is accepted only if it verifies (HS256, issuer, audience, expiry with 30 s leeway,
type ``access``), neither its ``jti`` nor its ``sid`` is revoked, its user still exists and the
role it claims is the user's role now.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from flask import g, request

from legacy_flask.app_state import state
from legacy_flask.database import db
from legacy_flask.errors import Forbidden, Unauthorized
from legacy_flask.tables import revoked_tokens, users
from legacy_flask.tokens import Claims, InvalidToken, TokenService

__all__ = [
    "ROLES",
    "CurrentUser",
    "current_user",
    "is_revoked",
    "load_user",
    "require_role",
]

ROLES = ("viewer", "operator", "admin")
MISSING_TOKEN = "Missing bearer token."  # noqa: S105 - a message, not a secret
INVALID_TOKEN = "Invalid or expired token."  # noqa: S105 - a message, not a secret

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class CurrentUser:
    """The authenticated caller."""

    id: int
    username: str
    role: str
    full_name: str
    email: str | None
    created_at: datetime
    claims: Claims

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "role": self.role,
            "full_name": self.full_name,
            "email": self.email,
            "created_at": self.created_at,
        }


def _bearer_token() -> str:
    """The token of ``Authorization: Bearer <token>``; anything else is no token (401).

    A WSGI server joins repeated headers with a comma, so a comma (which no token has) is how
    two ``Authorization`` headers show here: they are refused, as the FastAPI app refuses them.
    """
    parts = request.headers.get("Authorization", "").split()
    if len(parts) != 2 or parts[0].lower() != "bearer" or "," in parts[1]:
        raise Unauthorized(MISSING_TOKEN)
    return parts[1]


def is_revoked(*token_ids: str) -> bool:
    """Return whether any of these jtis or sids is in the revocation table."""
    row = (
        db()
        .execute(
            sa.select(revoked_tokens.c.token_id)
            .where(revoked_tokens.c.token_id.in_(token_ids))
            .limit(1)
        )
        .first()
    )
    return row is not None


def load_user(claims: Claims) -> sa.Row[Any]:
    """Return the token's user row, refusing revoked tokens, deleted users and stale roles."""
    if is_revoked(claims.jti, claims.sid):
        raise Unauthorized(INVALID_TOKEN, invalid_token=True)
    user = db().execute(sa.select(users).where(users.c.username == claims.sub)).first()
    if user is None or user.role != claims.role:
        raise Unauthorized(INVALID_TOKEN, invalid_token=True)
    return user


def authenticate() -> CurrentUser:
    """Return the caller named by a valid access token (401 otherwise)."""
    token = _bearer_token()
    service: TokenService = state().tokens
    try:
        claims = service.verify(token, "access")
    except InvalidToken as exc:
        raise Unauthorized(INVALID_TOKEN, invalid_token=True) from exc
    user = load_user(claims)
    return CurrentUser(
        id=user.id,
        username=user.username,
        role=user.role,
        full_name=user.full_name,
        email=user.email,
        created_at=user.created_at,
        claims=claims,
    )


def require_role(role: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a view so it runs only for a caller whose role includes ``role``."""
    needed = ROLES.index(role)

    def decorator(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            user = authenticate()
            if ROLES.index(user.role) < needed:
                raise Forbidden(f"This action requires the {role} role.")
            g.user = user
            return view(*args, **kwargs)

        return wrapper

    return decorator


def current_user() -> CurrentUser:
    """Return the caller authenticated by :func:`require_role`."""
    user: CurrentUser = g.user
    return user
