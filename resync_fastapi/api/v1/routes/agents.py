"""``/agents``: the assistant's agents (viewer)."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter
from pydantic import TypeAdapter
from starlette.responses import Response

from resync_fastapi.api.v1.dependencies import CurrentUser, Db, DbConn, Pages
from resync_fastapi.api.v1.params import Limit, Offset
from resync_fastapi.core.exceptions import NotFound
from resync_fastapi.core.routing import ResyncRoute
from resync_fastapi.db import tables
from resync_fastapi.db.pages import PageQuery, fetch_page
from resync_fastapi.models import AgentDetailOut, AgentOut, Page, problem_responses

__all__ = ["router"]

router = APIRouter(
    route_class=ResyncRoute, prefix="/agents", tags=["agents"], responses=problem_responses(401)
)

_a = tables.agents.c
_LIST_COLUMNS = (_a.id, _a.name, _a.agent_type, _a.role, _a.goal, _a.tools, _a.model_name)
_LIST_PAGE = PageQuery.of(sa.select(*_LIST_COLUMNS).order_by(_a.id))
# The route's own model, validated and written to bytes by pydantic-core as FastAPI would.
_LIST_BODY = TypeAdapter(Page[AgentOut])


def _agent(row: Any) -> dict[str, Any]:
    agent = dict(row if isinstance(row, dict) else row._mapping)
    agent["tools"] = json.loads(agent["tools"])
    return agent


@router.get("", response_model=Page[AgentOut], responses=problem_responses(400))
async def list_agents(
    user: CurrentUser, db: Db, pages: Pages, limit: Limit = 50, offset: Offset = 0
) -> Response:
    """List the agents, ordered by id."""
    # Rendered once per database change (resync_fastapi.db.page_cache): no connection is taken
    # while the page stands.
    key = ("agents", limit, offset)
    version, body = pages.lookup(key)
    if body is None:
        async with db.transaction() as conn:
            rows, total = await fetch_page(conn, _LIST_PAGE, limit=limit, offset=offset)
        page = {
            "items": [_agent(row) for row in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
        }
        body = _LIST_BODY.dump_json(_LIST_BODY.validate_python(page), by_alias=True)
        pages.store(key, version, body)
    return Response(body, media_type="application/json")


@router.get("/{agent_id}", response_model=AgentDetailOut, responses=problem_responses(404))
async def get_agent(agent_id: str, user: CurrentUser, conn: DbConn) -> dict[str, Any]:
    """Show one agent with its backstory."""
    row = (
        await conn.execute(sa.select(*_LIST_COLUMNS, _a.backstory).where(_a.id == agent_id))
    ).first()
    if row is None:
        raise NotFound(f"Agent {agent_id} not found.")
    return _agent(row)
