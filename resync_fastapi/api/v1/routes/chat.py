"""``/chat``: talk to an agent (operator) and read or clear one's own history."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Response

from resync_fastapi.api.v1.bodies import json_body, json_body_openapi
from resync_fastapi.api.v1.dependencies import CurrentUser, Db, DbConn, RequireOperator, Tws
from resync_fastapi.api.v1.params import Limit, Offset
from resync_fastapi.core.routing import ResyncRoute
from resync_fastapi.db import tables
from resync_fastapi.db.pages import fetch_page
from resync_fastapi.models import ChatIn, ChatMessageOut, Page, problem_responses
from resync_fastapi.services.chat import exchange

__all__ = ["router"]

router = APIRouter(
    route_class=ResyncRoute, prefix="/chat", tags=["chat"], responses=problem_responses(401)
)

_m = tables.chat_messages.c
AgentFilter = Annotated[str | None, Query(description="Only this agent's messages.")]


@router.post(
    "",
    response_model=ChatMessageOut,
    openapi_extra=json_body_openapi(ChatIn),
    responses=problem_responses(400, 403, 404, 415, 502, 504),
)
async def post_chat(
    user: RequireOperator,
    body: Annotated[ChatIn, Depends(json_body(ChatIn))],
    db: Db,
    tws: Tws,
) -> dict[str, Any]:
    """Ask an agent; the exchange is stored in the caller's history."""
    return await exchange(db, tws, user_id=user.id, agent_id=body.agent_id, message=body.message)


@router.get("/history", response_model=Page[ChatMessageOut], responses=problem_responses(400))
async def history(
    user: CurrentUser,
    conn: DbConn,
    agent_id: AgentFilter = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """The caller's messages, newest first."""
    condition = _m.user_id == user.id
    if agent_id is not None:
        condition = sa.and_(condition, _m.agent_id == agent_id)
    rows, total = await fetch_page(
        conn,
        sa.select(_m.id, _m.agent_id, _m.message, _m.reply, _m.intent, _m.created_at)
        .where(condition)
        .order_by(_m.created_at.desc(), _m.id.desc()),
        limit=limit,
        offset=offset,
    )
    return {
        "items": rows,
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.delete(
    "/history",
    status_code=204,
    response_class=Response,
    response_model=None,
    responses=problem_responses(403),
)
async def clear_history(
    user: RequireOperator, conn: DbConn, agent_id: AgentFilter = None
) -> Response:
    """Delete the caller's messages (one agent's, or all)."""
    condition = _m.user_id == user.id
    if agent_id is not None:
        condition = sa.and_(condition, _m.agent_id == agent_id)
    await conn.execute(sa.delete(tables.chat_messages).where(condition))
    return Response(status_code=204)
