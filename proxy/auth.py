"""Guard the admin API: a bearer token, checked by a pluggable verifier, with the admin role.

The proxy is generic, so it does not know how tokens are made. Whoever composes it passes a
``token_verifier``: a callable taking the raw token and returning a :class:`Principal` (or an
awaitable of one), raising :class:`InvalidToken` for anything it refuses. The guard answers 401
without a usable ``Authorization: Bearer`` header or with a refused token, and 403 when the
principal's role is not ``admin``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from proxy.errors import InvalidToken
from proxy.problems import AdminProblem

__all__ = [
    "ADMIN_ROLE",
    "InvalidToken",
    "Principal",
    "TokenVerifier",
    "authenticate",
    "bearer_token",
    "require_admin",
]

ADMIN_ROLE = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling the admin API: the token's subject and role."""

    subject: str
    role: str


TokenVerifier = Callable[[str], Principal | Awaitable[Principal]]

_MISSING = AdminProblem(401, "Missing bearer token.", headers={"WWW-Authenticate": "Bearer"})


def bearer_token(authorization: str | None) -> str | None:
    """Return the token of an ``Authorization: Bearer <token>`` header value, or ``None``."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


async def authenticate(verifier: TokenVerifier, authorization: str | None) -> Principal:
    """Return the principal of an ``Authorization`` header value, or raise a 401 problem."""
    token = bearer_token(authorization)
    if token is None:
        raise _MISSING
    try:
        result = verifier(token)
        principal = await result if inspect.isawaitable(result) else result
    except InvalidToken as exc:
        raise AdminProblem(
            401,
            "Invalid or expired token.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from exc
    return principal


async def require_admin(connection: HTTPConnection) -> Principal:
    """FastAPI dependency: the calling admin, or a 401/403 problem."""
    verifier: TokenVerifier = connection.app.state.token_verifier
    principal = await authenticate(verifier, connection.headers.get("authorization"))
    if principal.role != ADMIN_ROLE:
        raise AdminProblem(403, f"This action requires the {ADMIN_ROLE} role.")
    return principal
