"""Run one chat exchange: find the agent, ask the rule engine, store the exchange.

Shared by ``POST /chat`` and the WebSocket so both answer with the same object. A ``help`` reply
also files a pending audit item, since it means the assistant did not understand the operator.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from resync_fastapi.core.exceptions import NotFound
from resync_fastapi.db import tables, utcnow
from resync_fastapi.services.intents import answer
from resync_fastapi.services.tws import TwsClient

__all__ = ["ensure_agent", "exchange"]


async def ensure_agent(conn: AsyncConnection, agent_id: str) -> None:
    """Raise 404 unless the agent exists."""
    found = await conn.scalar(sa.select(tables.agents.c.id).where(tables.agents.c.id == agent_id))
    if found is None:
        raise NotFound(f"Agent {agent_id} not found.")


async def exchange(
    conn: AsyncConnection, tws: TwsClient, *, user_id: int, agent_id: str, message: str
) -> dict[str, Any]:
    """Answer ``message`` (already trimmed and checked) and store it; return the chat object."""
    await ensure_agent(conn, agent_id)
    result = await answer(message, tws)
    now = utcnow()
    message_id = await conn.scalar(
        sa.insert(tables.chat_messages)
        .values(
            user_id=user_id,
            agent_id=agent_id,
            message=message,
            reply=result.reply,
            intent=result.intent,
            created_at=now,
        )
        .returning(tables.chat_messages.c.id)
    )
    if result.intent == "help":
        await conn.execute(
            sa.insert(tables.audit_items).values(
                memory_id=f"chat-{message_id}",
                agent_id=agent_id,
                user_query=message,
                agent_response=result.reply,
                reason="unrecognized request",
                confidence=0.0,
                status="pending",
                created_at=now,
            )
        )
    return {
        "id": message_id,
        "agent_id": agent_id,
        "message": message,
        "reply": result.reply,
        "intent": result.intent,
        "created_at": now,
    }
