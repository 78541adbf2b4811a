"""Log users in (with lockout), resolve bearer tokens, refresh and revoke them.

Everything lives in the shared database so a token issued by either app is accepted, refused or
revoked identically by the other: failed attempts in ``login_attempts``, revoked ``jti``s and
``sid``s in ``revoked_tokens``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from resync_fastapi.core.exceptions import BadCredentials, InvalidToken, RateLimited
from resync_fastapi.core.security import (
    REFRESH_TOKEN_SECONDS,
    TokenClaims,
    TokenPair,
    TokenService,
    verify_password,
)
from resync_fastapi.db import tables, utcnow
from resync_fastapi.db.async_core import AsyncConnection, AsyncEngine
from resync_fastapi.db.database import connect, mark_auth_changed
from resync_fastapi.services.auth_cache import AuthCache, version_statement

__all__ = [
    "LOCKOUT_THRESHOLD",
    "LOCKOUT_WINDOW",
    "AuthenticatedUser",
    "authenticate",
    "login",
    "read_auth_version",
    "refresh",
    "revoke_session",
]

LOCKOUT_THRESHOLD = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
ROLE_RANK = {"viewer": 0, "operator": 1, "admin": 2}


@dataclass(frozen=True, slots=True)
class AuthenticatedUser:
    """The caller behind a valid access token."""

    id: int
    username: str
    role: str
    full_name: str
    email: str | None
    created_at: datetime
    claims: TokenClaims

    def has_role(self, role: str) -> bool:
        """True if the user's role includes ``role``."""
        return ROLE_RANK.get(self.role, -1) >= ROLE_RANK[role]

    def public(self) -> dict[str, Any]:
        """The ``/auth/me`` object."""
        return {
            "id": self.id,
            "username": self.username,
            "role": self.role,
            "full_name": self.full_name,
            "email": self.email,
            "created_at": self.created_at,
        }


def _user_by_token_statement() -> sa.Select[Any]:
    """Build, once, the one query behind every authenticated request.

    The user row and whether the token's ``jti`` or ``sid`` is revoked, in one round trip; the
    values are bound per execution, so no statement is built or cache-keyed per request.
    """
    u = tables.users.c
    token_id = tables.revoked_tokens.c.token_id
    revoked = (
        sa.exists()
        .where(sa.or_(token_id == sa.bindparam("jti"), token_id == sa.bindparam("sid")))
        .label("revoked")
    )
    return sa.select(u.id, u.username, u.role, u.full_name, u.email, u.created_at, revoked).where(
        u.username == sa.bindparam("subject")
    )


_USER_BY_TOKEN = _user_by_token_statement()


async def _load_user(conn: AsyncConnection, claims: TokenClaims) -> Any:
    params = {"subject": claims.subject, "jti": claims.token_id, "sid": claims.session_id}
    row = (await conn.execute(_USER_BY_TOKEN, params)).first()
    if row is None or row.revoked or row.role != claims.role:
        raise InvalidToken()
    return row


async def read_auth_version(engine: AsyncEngine) -> int | None:
    """The shared auth version (None before migration 0003), on a short connection."""
    async with connect(engine) as conn:
        version = await conn.scalar(version_statement())
    return None if version is None else int(version)


async def _resolve(engine: AsyncEngine, claims: TokenClaims) -> AuthenticatedUser:
    # A connection of its own, given back before the endpoint runs (and before any TWS call).
    async with connect(engine) as conn:
        row = await _load_user(conn, claims)
    return AuthenticatedUser(
        id=row.id,
        username=row.username,
        role=row.role,
        full_name=row.full_name,
        email=row.email,
        created_at=row.created_at,
        claims=claims,
    )


async def authenticate(
    engine: AsyncEngine,
    tokens: TokenService,
    cache: AuthCache[AuthenticatedUser],
    token: str,
) -> AuthenticatedUser:
    """Resolve an access token to its user, refusing revoked, stale-role or orphan tokens.

    The answer comes from ``cache`` while the shared auth version stands still (see
    :mod:`resync_fastapi.services.auth_cache` for the bound); no connection is held afterwards.
    """
    claims = tokens.verify(token, "access")
    return await cache.get(token, lambda: _resolve(engine, claims))


async def _retry_after(conn: AsyncConnection, username: str, client: str, now: datetime) -> int:
    attempts = tables.login_attempts.c
    owner = sa.and_(attempts.username == username, attempts.client_addr == client)
    last_success = (
        sa.select(sa.func.max(attempts.attempted_at))
        .where(owner, attempts.succeeded.is_(True))
        .scalar_subquery()
    )
    window_start = now - LOCKOUT_WINDOW
    failures = (
        (
            await conn.execute(
                sa.select(attempts.attempted_at)
                .where(
                    owner,
                    attempts.succeeded.is_(False),
                    attempts.attempted_at > window_start,
                    sa.or_(last_success.is_(None), attempts.attempted_at > last_success),
                )
                .order_by(attempts.attempted_at.desc(), attempts.id.desc())
                .limit(LOCKOUT_THRESHOLD)
            )
        )
        .scalars()
        .all()
    )
    if len(failures) < LOCKOUT_THRESHOLD:
        return 0
    unlock_at = failures[LOCKOUT_THRESHOLD - 1] + LOCKOUT_WINDOW
    return max(1, math.ceil((unlock_at - now).total_seconds()))


async def _record_attempt(
    conn: AsyncConnection, username: str, client: str, succeeded: bool, now: datetime
) -> None:
    await conn.execute(
        sa.insert(tables.login_attempts).values(
            username=username, client_addr=client, succeeded=succeeded, attempted_at=now
        )
    )


async def login(
    conn: AsyncConnection, tokens: TokenService, username: str, password: str, client: str
) -> TokenPair:
    """Check credentials under the lockout rule and return a token pair.

    The failed attempt is committed even though the answer is an error: the caller's
    transaction handling commits on purpose for :class:`BadCredentials`.
    """
    now = utcnow()
    client = client[:64]
    retry_after = await _retry_after(conn, username, client, now)
    if retry_after:
        raise RateLimited(retry_after)
    u = tables.users.c
    row = (
        await conn.execute(sa.select(u.password_hash, u.role).where(u.username == username))
    ).first()
    valid = await verify_password(row.password_hash if row else None, password)
    await _record_attempt(conn, username, client, valid, now)
    if not valid or row is None:
        raise BadCredentials()
    return tokens.issue_pair(username, row.role)


async def refresh(conn: AsyncConnection, tokens: TokenService, refresh_token: str) -> TokenPair:
    """Trade a valid refresh token for a new pair, revoking the old refresh token."""
    claims = tokens.verify(refresh_token, "refresh")
    row = await _load_user(conn, claims)
    try:
        await conn.execute(
            sa.insert(tables.revoked_tokens).values(
                token_id=claims.token_id, revoked_at=utcnow(), expires_at=claims.expires_at
            )
        )
    except IntegrityError as exc:
        # A concurrent refresh with the same token won the race; the caller rolls back.
        raise InvalidToken() from exc
    mark_auth_changed(conn)
    return tokens.issue_pair(row.username, row.role)


async def revoke_session(conn: AsyncConnection, claims: TokenClaims) -> None:
    """Revoke the token's pair: its ``sid``, kept until the pair's refresh token expires."""
    token_id = claims.session_id
    now = utcnow()
    exists = await conn.scalar(
        sa.select(tables.revoked_tokens.c.token_id).where(
            tables.revoked_tokens.c.token_id == token_id
        )
    )
    if exists is None:
        await conn.execute(
            sa.insert(tables.revoked_tokens).values(
                token_id=token_id,
                revoked_at=now,
                expires_at=claims.issued_at + timedelta(seconds=REFRESH_TOKEN_SECONDS),
            )
        )
        mark_auth_changed(conn)
