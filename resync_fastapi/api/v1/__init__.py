"""API version 1: every resource router under ``/api/v1`` (health stays at the root)."""

from __future__ import annotations

from fastapi import APIRouter

from resync_fastapi.api.v1 import websocket
from resync_fastapi.api.v1.routes import agents, audit, auth, chat, rag, status, users
from resync_fastapi.core.routing import include_flat

__all__ = ["API_PREFIX", "include_api_routes"]

API_PREFIX = "/api/v1"


def include_api_routes(target: APIRouter) -> None:
    """Add every v1 route to ``target`` (the app's router) at ``/api/v1``, flat, in order.

    New route objects per app (tests build many apps); see :func:`include_flat` for why no
    nested routers.
    """
    for module in (auth, users, agents, chat, audit, rag, status):
        include_flat(target, module.router, prefix=API_PREFIX)
    include_flat(target, websocket.router, prefix=API_PREFIX)
