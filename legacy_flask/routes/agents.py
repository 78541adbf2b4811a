"""List the agents and show one."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response

from legacy_flask.access import require_role
from legacy_flask.database import db
from legacy_flask.encoding import json_response
from legacy_flask.errors import NotFound
from legacy_flask.tables import agents
from legacy_flask.validation import FieldErrors

__all__ = ["bp"]

bp = Blueprint("agents", __name__, url_prefix="/api/v1")


def _agent_json(row: Any, *, detail: bool = False) -> dict[str, Any]:
    body = {
        "id": row.id,
        "name": row.name,
        "agent_type": row.agent_type,
        "role": row.role,
        "goal": row.goal,
        "tools": json.loads(row.tools),
        "model_name": row.model_name,
    }
    if detail:
        body["backstory"] = row.backstory
    return body


@bp.get("/agents")
@require_role("viewer")
def list_agents() -> Response:
    fields = FieldErrors()
    limit, offset = fields.pagination()
    fields.raise_if_any()
    total = db().execute(sa.select(sa.func.count()).select_from(agents)).scalar_one()
    rows = db().execute(sa.select(agents).order_by(agents.c.id).limit(limit).offset(offset))
    return json_response(
        {
            "items": [_agent_json(row) for row in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
        }
    )


@bp.get("/agents/<agent_id>")
@require_role("viewer")
def get_agent(agent_id: str) -> Response:
    row = db().execute(sa.select(agents).where(agents.c.id == agent_id)).first()
    if row is None:
        raise NotFound(f"Agent {agent_id} not found.")
    return json_response(_agent_json(row, detail=True))
