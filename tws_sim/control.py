"""Build the ``/_control`` routes: read, change and reset the latency and fault settings.

No auth: the simulator listens on loopback and this is for test and load-test tooling. These
routes are never delayed or faulted, so a test can always reach them.
"""

from __future__ import annotations

import json

from aiohttp import web

from tws_sim.catalog import encode
from tws_sim.errors import InvalidSettings
from tws_sim.faults import FaultInjector

__all__ = ["add_control_routes"]

JSON = "application/json"
INJECTOR = web.AppKey("control_injector", FaultInjector)
_HEALTHY = b'{"status":"ok"}'


def _json(value: object, status: int = 200) -> web.Response:
    return web.Response(body=encode(value), status=status, content_type=JSON)


async def get_settings(request: web.Request) -> web.Response:
    """Answer the settings in force."""
    return _json(request.app[INJECTOR].settings.as_dict())


async def put_settings(request: web.Request) -> web.Response:
    """Change any subset of the settings; 400 and no change if any value is bad."""
    try:
        changes = json.loads(await request.read() or b"null")
    except (ValueError, UnicodeDecodeError):
        return _json({"error": "body must be valid JSON"}, status=400)
    if not isinstance(changes, dict):
        return _json({"error": "body must be a JSON object"}, status=400)
    try:
        settings = request.app[INJECTOR].update(changes)
    except InvalidSettings as exc:
        return _json({"error": exc.message}, status=exc.status)
    return _json(settings.as_dict())


async def reset_settings(request: web.Request) -> web.Response:
    """Restore the settings the simulator started with."""
    return _json(request.app[INJECTOR].reset().as_dict())


async def health(request: web.Request) -> web.Response:
    """Answer ``{"status": "ok"}`` while the process serves."""
    return web.Response(body=_HEALTHY, content_type=JSON)


def add_control_routes(app: web.Application, injector: FaultInjector) -> None:
    """Register the control routes on the root application."""
    app[INJECTOR] = injector
    app.router.add_get("/_control", get_settings)
    app.router.add_put("/_control", put_settings)
    app.router.add_post("/_control/reset", reset_settings)
    app.router.add_get("/_control/health", health)
