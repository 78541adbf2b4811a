"""Dependencies the routes declare through ``Annotated`` aliases.

``DbConn`` is one pooled connection per request whose transaction is committed (or, for a
dry-run request, rolled back) before the response is sent; only handlers that do no TWS call
take it. ``Db`` gives TWS-bound handlers short transactions around the call instead.
``CurrentUser`` resolves the bearer token (through the auth cache, with a connection of its own
that is back in the pool before the endpoint runs); ``RequireOperator``/``RequireAdmin`` add the
role check.
Order matters: routes list the auth alias before a body, so 401/403 come before 415/400.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from starlette.requests import HTTPConnection

from resync_fastapi.core.bearer import bearer_token
from resync_fastapi.core.config import Settings
from resync_fastapi.core.exceptions import Forbidden, MissingToken
from resync_fastapi.core.security import TokenService
from resync_fastapi.db.async_core import AsyncConnection, AsyncEngine
from resync_fastapi.db.database import Database
from resync_fastapi.db.page_cache import PageCache
from resync_fastapi.db.transaction import is_dry_run
from resync_fastapi.services.auth import AuthenticatedUser, authenticate
from resync_fastapi.services.tws import TwsClient

__all__ = [
    "AppSettings",
    "CurrentUser",
    "Db",
    "DbConn",
    "Engine",
    "Pages",
    "RequestDatabase",
    "RequireAdmin",
    "RequireOperator",
    "RequireViewer",
    "Tokens",
    "Tws",
    "dry_run_requested",
    "oauth2_scheme",
    "require_role",
    "tws_of",
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


async def _pages(request: Request) -> PageCache:
    pages: PageCache = request.app.state.pages
    return pages


async def _tws(request: Request) -> TwsClient:
    return tws_of(request)


def tws_of(request: Request) -> TwsClient:
    """The app's TWS client; what ``Tws`` gives, without a dependency's cost (hot routes)."""
    tws: TwsClient = request.app.state.tws
    return tws


class RequestDatabase:
    """Short transactions for one request, dry run or not (for handlers that call TWS)."""

    def __init__(self, database: Database, *, dry_run: bool) -> None:
        self._database = database
        self._dry_run = dry_run

    def transaction(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection and its transaction, for as long as the ``async with`` block."""
        return self._database.transaction(dry_run=self._dry_run)


async def _db(request: Request) -> RequestDatabase:
    state = request.app.state
    return RequestDatabase(
        state.database, dry_run=is_dry_run(request.scope, state.settings.dry_run_key)
    )


async def _connection(request: Request) -> AsyncIterator[AsyncConnection]:
    state = request.app.state
    dry_run = is_dry_run(request.scope, state.settings.dry_run_key)
    async with state.database.transaction(dry_run=dry_run) as conn:
        yield conn


AppSettings = Annotated[Settings, Depends(_settings)]
Engine = Annotated[AsyncEngine, Depends(_engine)]
Tokens = Annotated[TokenService, Depends(_tokens)]
Tws = Annotated[TwsClient, Depends(_tws)]
Pages = Annotated[PageCache, Depends(_pages)]
DbConn = Annotated[AsyncConnection, Depends(_connection, scope="function")]
Db = Annotated[RequestDatabase, Depends(_db)]
BearerToken = Annotated[str | None, Depends(oauth2_scheme)]


class _BearerUser(_BearerScheme):
    """The same scheme (same name in the OpenAPI document), resolving the token to its user.

    One dependency instead of a user dependency on a token dependency: every level of the
    tree is a nested ``solve_dependencies`` call per request (about 2 % of a small
    request's CPU each), and every authenticated route declares this one.
    """

    async def __call__(self, request: HTTPConnection) -> AuthenticatedUser:  # type: ignore[override]
        token = bearer_token(request.headers.getlist("authorization"))
        if not token:
            raise MissingToken()
        state = request.app.state
        return await authenticate(state.engine, state.tokens, state.auth_cache, token)


_current_user = _BearerUser(
    tokenUrl="/api/v1/auth/login", auto_error=False, scheme_name=_BearerScheme.__name__
)

CurrentUser = Annotated[AuthenticatedUser, Depends(_current_user)]


class _BearerRole(_BearerUser):
    """The user dependency with the role check in the same call (one level, not two)."""

    def __init__(self, role: str) -> None:
        super().__init__(
            tokenUrl="/api/v1/auth/login", auto_error=False, scheme_name=_BearerScheme.__name__
        )
        self.role = role

    async def __call__(self, request: HTTPConnection) -> AuthenticatedUser:  # type: ignore[override]
        user = await super().__call__(request)
        if not user.has_role(self.role):
            raise Forbidden(self.role)
        return user


def require_role(role: str) -> Callable[..., Coroutine[Any, Any, AuthenticatedUser]]:
    """Return a dependency that lets only users whose role includes ``role`` through."""
    return _BearerRole(role)


RequireViewer = CurrentUser
RequireOperator = Annotated[AuthenticatedUser, Depends(require_role("operator"))]
RequireAdmin = Annotated[AuthenticatedUser, Depends(require_role("admin"))]


def dry_run_requested(request: Request) -> bool:
    """True if this request's transaction will be rolled back."""
    return is_dry_run(request.scope, request.app.state.settings.dry_run_key)
