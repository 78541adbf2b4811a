"""API version 1: every resource router under ``/api/v1`` (health stays at the root)."""

from __future__ import annotations

from fastapi import APIRouter

from resync_fastapi.api.v1 import websocket
from resync_fastapi.api.v1.routes import agents, audit, auth, chat, rag, status, users
from resync_fastapi.core.routing import ResyncRoute

__all__ = ["API_PREFIX", "build_api_router"]

API_PREFIX = "/api/v1"


def build_api_router() -> APIRouter:
    """Assemble the v1 routers (a new router per app: tests build many apps)."""
    api = APIRouter(prefix=API_PREFIX, route_class=ResyncRoute)
    for module in (auth, users, agents, chat, audit, rag, status):
        api.include_router(module.router)
    api.include_router(websocket.router)
    return api
