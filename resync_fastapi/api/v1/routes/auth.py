"""``/auth``: log in (JSON or the OAuth2 password form), refresh, log out, who am I."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response

from resync_fastapi.api.v1.bodies import (
    json_body_openapi,
    media_type,
    read_json_object,
    validate_model,
)
from resync_fastapi.api.v1.dependencies import CurrentUser, DbConn, Tokens, dry_run_requested
from resync_fastapi.core.exceptions import BadCredentials
from resync_fastapi.core.routing import ResyncRoute
from resync_fastapi.core.security import TokenPair
from resync_fastapi.db.transaction import finish
from resync_fastapi.models import LoginIn, RefreshIn, TokenPairOut, UserOut, problem_responses
from resync_fastapi.services import auth as auth_service

__all__ = ["router"]

router = APIRouter(route_class=ResyncRoute, prefix="/auth", tags=["auth"])

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"


def _pair(pair: TokenPair) -> dict[str, Any]:
    return {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "token_type": "bearer",
        "expires_in": pair.expires_in,
    }


async def _credentials(request: Request) -> LoginIn:
    if media_type(request.headers.get("content-type")) == FORM_MEDIA_TYPE:
        data: dict[str, Any] = {}
        raw = (await request.body()).decode("utf-8", "replace")
        for key, value in parse_qsl(raw, keep_blank_values=True):
            data.setdefault(key, value)  # the first value wins, as in a form's MultiDict
    else:
        data = await read_json_object(request)
    return validate_model(LoginIn, data)


@router.post(
    "/login",
    response_model=TokenPairOut,
    openapi_extra=json_body_openapi(LoginIn, form=True),
    responses=problem_responses(400, 401, 415, 429),
)
async def login(request: Request, conn: DbConn, tokens: Tokens) -> dict[str, Any]:
    """Trade a username and password for a token pair (five failures lock out 15 minutes)."""
    credentials = await _credentials(request)
    client = request.client.host if request.client else "unknown"
    try:
        pair = await auth_service.login(
            conn, tokens, credentials.username, credentials.password, client
        )
    except BadCredentials:
        # The failed attempt must persist although the answer is an error (lockout counts it).
        await finish(conn, dry_run=dry_run_requested(request))
        raise
    return _pair(pair)


@router.post(
    "/refresh",
    response_model=TokenPairOut,
    openapi_extra=json_body_openapi(RefreshIn),
    responses=problem_responses(400, 401, 415),
)
async def refresh(request: Request, conn: DbConn, tokens: Tokens) -> dict[str, Any]:
    """Trade a refresh token for a new pair; the old refresh token stops working."""
    body = validate_model(RefreshIn, await read_json_object(request))
    return _pair(await auth_service.refresh(conn, tokens, body.refresh_token))


@router.post(
    "/logout",
    status_code=204,
    response_class=Response,
    response_model=None,
    responses=problem_responses(401),
)
async def logout(user: CurrentUser, conn: DbConn) -> Response:
    """Revoke the presented access token and its refresh token."""
    await auth_service.revoke_session(conn, user.claims)
    return Response(status_code=204)


@router.get("/me", response_model=UserOut, responses=problem_responses(401))
async def me(user: CurrentUser) -> dict[str, Any]:
    """Show the caller."""
    return user.public()
