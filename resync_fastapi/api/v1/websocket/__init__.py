"""WebSocket endpoints of API v1."""

from __future__ import annotations

from resync_fastapi.api.v1.websocket.handlers import router

__all__ = ["router"]
