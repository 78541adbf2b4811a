"""One router per resource."""

from __future__ import annotations

from resync_fastapi.api.v1.routes import agents, audit, auth, chat, health, rag, status, users

__all__ = ["agents", "audit", "auth", "chat", "health", "rag", "status", "users"]
