"""Dependencies the routes declare through ``Annotated`` aliases.

``DbConn`` is one pooled connection per request whose transaction is committed (or, for a
dry-run request, rolled back) before the response is sent; ``CurrentUser`` resolves the bearer
token against the shared database; ``RequireOperator``/``RequireAdmin`` add the role check.
Order matters: routes list the auth alias before a body, so 401/403 come before 415/400.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import HTTPConnection

from resync_fastapi.core.bearer import bearer_token
from resync_fastapi.core.config import Settings
from resync_fastapi.core.exceptions import Forbidden, MissingToken
from resync_fastapi.core.security import TokenService
from resync_fastapi.db.transaction import finish, is_dry_run
from resync_fastapi.services.auth import AuthenticatedUser, authenticate
from resync_fastapi.services.tws import TwsClient

__all__ = [
    "AppSettings",
    "CurrentUser",
    "DbConn",
    "Engine",
    "RequireAdmin",
    "RequireOperator",
    "RequireViewer",
    "Tokens",
    "Tws",
    "dry_run_requested",
    "oauth2_scheme",
    "require_role",
]


class _BearerScheme(OAuth2PasswordBearer):
    """The OAuth2 password flow for the docs; the header parsed as both apps parse it.

    One ``Authorization`` header that splits on whitespace into exactly ``bearer`` (any case)
    and a token; anything else (two headers included) counts as no token.
    """

    async def __call__(self, request: HTTPConnection) -> str | None:
        return bearer_token(request.headers.getlist("authorization"))


oauth2_scheme = _BearerScheme(tokenUrl="/api/v1/auth/login", auto_error=False)


# Plain ``def`` dependencies would each be run in a worker thread by FastAPI: keep them async.
async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _engine(request: Request) -> AsyncEngine:
    return request.app.state.engine


async def _tokens(request: Request) -> TokenService:
    return request.app.state.tokens


async def _tws(request: Request) -> TwsClient:
    http: httpx.AsyncClient = request.app.state.tws_http
    return TwsClient(http)


async def _connection(request: Request) -> AsyncIterator[AsyncConnection]:
    state = request.app.state
    async with state.engine.connect() as conn:
        try:
            yield conn
        except BaseException:
            if conn.in_transaction():
                await conn.rollback()
            raise
        await finish(conn, dry_run=is_dry_run(request.scope, state.settings.dry_run_key))


AppSettings = Annotated[Settings, Depends(_settings)]
Engine = Annotated[AsyncEngine, Depends(_engine)]
Tokens = Annotated[TokenService, Depends(_tokens)]
Tws = Annotated[TwsClient, Depends(_tws)]
DbConn = Annotated[AsyncConnection, Depends(_connection, scope="function")]
BearerToken = Annotated[str | None, Depends(oauth2_scheme)]


async def _current_user(token: BearerToken, conn: DbConn, tokens: Tokens) -> AuthenticatedUser:
    if not token:
        raise MissingToken()
    return await authenticate(conn, tokens, token)


CurrentUser = Annotated[AuthenticatedUser, Depends(_current_user)]


def require_role(role: str) -> Callable[..., Coroutine[Any, Any, AuthenticatedUser]]:
    """Return a dependency that lets only users whose role includes ``role`` through."""

    async def check(user: CurrentUser) -> AuthenticatedUser:
        if not user.has_role(role):
            raise Forbidden(role)
        return user

    check.__name__ = f"require_{role}"
    return check


RequireViewer = CurrentUser
RequireOperator = Annotated[AuthenticatedUser, Depends(require_role("operator"))]
RequireAdmin = Annotated[AuthenticatedUser, Depends(require_role("admin"))]


def dry_run_requested(request: Request) -> bool:
    """True if this request's transaction will be rolled back."""
    return is_dry_run(request.scope, request.app.state.settings.dry_run_key)
