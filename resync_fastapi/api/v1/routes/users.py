"""``/users``: list and create users (admin)."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from sqlalchemy.exc import IntegrityError

from resync_fastapi.api.v1.bodies import json_body, json_body_openapi
from resync_fastapi.api.v1.dependencies import DbConn, RequireAdmin
from resync_fastapi.api.v1.params import Limit, Offset
from resync_fastapi.core.exceptions import Conflict
from resync_fastapi.core.routing import ResyncRoute
from resync_fastapi.core.security import hash_password
from resync_fastapi.db import tables, utcnow
from resync_fastapi.db.pages import PageQuery, fetch_page
from resync_fastapi.models import Page, UserCreateIn, UserOut, problem_responses

__all__ = ["router"]

router = APIRouter(
    route_class=ResyncRoute, prefix="/users", tags=["users"], responses=problem_responses(401, 403)
)

_u = tables.users.c
_PUBLIC = (_u.id, _u.username, _u.role, _u.full_name, _u.email, _u.created_at)
_LIST_PAGE = PageQuery.of(sa.select(*_PUBLIC).order_by(_u.id))


@router.get("", response_model=Page[UserOut], responses=problem_responses(400))
async def list_users(
    admin: RequireAdmin, conn: DbConn, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    """List users, ordered by id."""
    rows, total = await fetch_page(conn, _LIST_PAGE, limit=limit, offset=offset)
    return {
        "items": rows,
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.post(
    "",
    status_code=201,
    response_model=UserOut,
    openapi_extra=json_body_openapi(UserCreateIn),
    responses=problem_responses(400, 409, 415),
)
async def create_user(
    admin: RequireAdmin,
    body: Annotated[UserCreateIn, Depends(json_body(UserCreateIn))],
    conn: DbConn,
) -> dict[str, Any]:
    """Create a user; usernames are unique."""
    duplicate = Conflict(f"User {body.username} already exists.")
    if await conn.scalar(sa.select(_u.id).where(_u.username == body.username)) is not None:
        raise duplicate
    values = {
        "username": body.username,
        "password_hash": await hash_password(body.password),
        "role": body.role,
        "full_name": body.full_name,
        "email": body.email,
        "created_at": utcnow(),
    }
    try:
        user_id = await conn.scalar(sa.insert(tables.users).values(**values).returning(_u.id))
    except IntegrityError as exc:  # created concurrently since the check above
        raise duplicate from exc
    values.pop("password_hash")
    return {"id": user_id, **values}
