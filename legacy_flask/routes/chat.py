"""Talk to an agent, read and clear my chat history."""

from __future__ import annotations

import unicodedata
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response

from legacy_flask.access import current_user, require_role
from legacy_flask.agent_rules import answer
from legacy_flask.app_state import state
from legacy_flask.database import db, utcnow
from legacy_flask.encoding import json_response, no_content
from legacy_flask.errors import NotFound
from legacy_flask.tables import agents, audit_items, chat_messages
from legacy_flask.validation import FieldErrors, query_value, read_json_object

__all__ = ["bp"]

bp = Blueprint("chat", __name__, url_prefix="/api/v1")

MAX_MESSAGE = 4000
_ALLOWED_CONTROLS = frozenset("\n\t")


def _has_control_character(text: str) -> bool:
    return any(
        unicodedata.category(char) == "Cc" and char not in _ALLOWED_CONTROLS for char in text
    )


def _check_message(body: dict[str, Any], fields: FieldErrors) -> str | None:
    """Trim the message and check it: 1..4000 characters, no control characters."""
    message = fields.string(body, "message", min_length=1, max_length=MAX_MESSAGE, trim=True)
    if message is not None and _has_control_character(message):
        fields.add("message", "invalid_format", "Control characters are not allowed.")
        return None
    return message


def _message_json(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "agent_id": row["agent_id"],
        "message": row["message"],
        "reply": row["reply"],
        "intent": row["intent"],
        "created_at": row["created_at"],
    }


@bp.post("/chat")
@require_role("operator")
def post_chat() -> Response:
    body = read_json_object()
    fields = FieldErrors()
    agent_id = fields.string(body, "agent_id")
    message = _check_message(body, fields)
    fields.raise_if_any()
    assert agent_id is not None and message is not None
    if db().execute(sa.select(agents.c.id).where(agents.c.id == agent_id)).first() is None:
        raise NotFound(f"Agent {agent_id} not found.")
    reply = answer(message, state().tws)
    values = {
        "agent_id": agent_id,
        "message": message,
        "reply": reply.text,
        "intent": reply.intent,
        "created_at": utcnow(),
    }
    message_id = (
        db()
        .execute(
            chat_messages.insert()
            .values(user_id=current_user().id, **values)
            .returning(chat_messages.c.id)
        )
        .scalar_one()
    )
    if reply.intent == "help":
        db().execute(
            audit_items.insert().values(
                memory_id=f"chat-{message_id}",
                agent_id=agent_id,
                user_query=message,
                agent_response=reply.text,
                reason="unrecognized request",
                confidence=0.0,
                status="pending",
                created_at=values["created_at"],
            )
        )
    return json_response(_message_json({"id": message_id, **values}))


def _owned_by_caller(agent_id: str | None) -> list[sa.ColumnElement[bool]]:
    conditions = [chat_messages.c.user_id == current_user().id]
    if agent_id is not None:
        conditions.append(chat_messages.c.agent_id == agent_id)
    return conditions


@bp.get("/chat/history")
@require_role("viewer")
def history() -> Response:
    fields = FieldErrors()
    agent_id = query_value("agent_id")
    limit, offset = fields.pagination()
    fields.raise_if_any()
    where = _owned_by_caller(agent_id)
    total = (
        db()
        .execute(sa.select(sa.func.count()).select_from(chat_messages).where(*where))
        .scalar_one()
    )
    rows = db().execute(
        sa.select(chat_messages)
        .where(*where)
        .order_by(chat_messages.c.created_at.desc(), chat_messages.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return json_response(
        {
            "items": [_message_json(row._mapping) for row in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
        }
    )


@bp.delete("/chat/history")
@require_role("operator")
def clear_history() -> Response:
    db().execute(chat_messages.delete().where(*_owned_by_caller(query_value("agent_id"))))
    return no_content()
