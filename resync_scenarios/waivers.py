"""Routes that cannot have a parity scenario, and why (the coverage test accepts only these)."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["WAIVERS"]

#: Routes that cannot have a parity scenario, and why.
WAIVERS: Mapping[str, str] = {
    "WS /api/v1/ws/chat/{agent_id}": "WebSocket: only the new app serves it (WSGI cannot carry "
    "it); there is nothing to compare it with. tests/resync_fastapi covers it.",
    "GET /openapi.json": "FastAPI's generated schema: new side only, not part of the contract.",
    "GET /docs": "The Swagger UI page: new side only, not part of the contract.",
    "GET /docs/oauth2-redirect": "Swagger UI's OAuth2 helper: new side only.",
    "GET /docs/assets/{name}": "The docs pages' scripts and styles: new side only.",
    "GET /redoc": "The ReDoc page: new side only, not part of the contract.",
}
