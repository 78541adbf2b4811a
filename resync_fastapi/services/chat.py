"""Run one chat exchange: find the agent, ask the rule engine, store the exchange.

Shared by ``POST /chat`` and the WebSocket so both answer with the same object. A ``help`` reply
also files a pending audit item, since it means the assistant did not understand the operator.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError

from resync_fastapi.core.exceptions import NotFound
from resync_fastapi.db import tables, utcnow
from resync_fastapi.db.async_core import AsyncConnection
from resync_fastapi.db.database import Transactions
from resync_fastapi.services.intents import answer
from resync_fastapi.services.tws import TwsClient

__all__ = ["ensure_agent", "exchange"]

logger = structlog.get_logger("resync_fastapi.chat")


async def ensure_agent(conn: AsyncConnection, agent_id: str) -> None:
    """Raise 404 unless the agent exists."""
    found = await conn.scalar(sa.select(tables.agents.c.id).where(tables.agents.c.id == agent_id))
    if found is None:
        raise NotFound(f"Agent {agent_id} not found.")


async def _file_audit_item(
    conn: AsyncConnection, memory_id: str, agent_id: str, query: str, reply: str, now: datetime
) -> None:
    values = {
        "agent_id": agent_id,
        "user_query": query,
        "agent_response": reply,
        "reason": "unrecognized request",
        "confidence": 0.0,
        "status": "pending",
        "created_at": now,
        "reviewed_at": None,
        "reviewed_by": None,
    }
    items = tables.audit_items
    stale = await conn.scalar(sa.select(items.c.id).where(items.c.memory_id == memory_id))
    if stale is None:
        await conn.execute(sa.insert(items).values(memory_id=memory_id, **values))
        return
    # SQLite reuses the highest rowid once that message is deleted (the schema has no
    # AUTOINCREMENT), so an item filed for a deleted message can already hold this memory id.
    # It described a message that no longer exists; the new exchange takes it over.
    logger.warning("audit_item_replaced", memory_id=memory_id, audit_item_id=stale)
    await conn.execute(sa.update(items).where(items.c.id == stale).values(**values))


async def exchange(
    db: Transactions, tws: TwsClient, *, user_id: int, agent_id: str, message: str
) -> dict[str, Any]:
    """Answer ``message`` (already trimmed and checked) and store it; return the chat object.

    Two short transactions around the TWS call, never one held across it: a slow TWS must not
    keep pooled connections from the requests that only need the database.
    """
    async with db.transaction() as conn:
        await ensure_agent(conn, agent_id)
    result = await answer(message, tws)
    now = utcnow()
    try:
        async with db.transaction() as conn:
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
                await _file_audit_item(
                    conn, f"chat-{message_id}", agent_id, message, result.reply, now
                )
    except IntegrityError as exc:
        # The agent (or the user) was deleted while TWS answered.
        raise NotFound(f"Agent {agent_id} not found.") from exc
    return {
        "id": message_id,
        "agent_id": agent_id,
        "message": message,
        "reply": result.reply,
        "intent": result.intent,
        "created_at": now,
    }
