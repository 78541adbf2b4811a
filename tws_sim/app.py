"""Assemble the simulator: the control routes at the root and the TWS paths under ``/twsd``."""

from __future__ import annotations

import time

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from tws_sim.catalog import Catalog, encode
from tws_sim.control import add_control_routes
from tws_sim.dataset import build_dataset
from tws_sim.faults import FaultInjector
from tws_sim.settings import ServerSettings
from tws_sim.twsd import create_twsd_app

__all__ = ["create_app"]

logger = structlog.get_logger("tws_sim")


@web.middleware
async def json_errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn aiohttp's plain-text 404/405 answers into the API's ``{"error": ...}`` shape."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = web.Response(
            body=encode({"error": exc.reason.lower()}),
            status=exc.status,
            content_type="application/json",
        )
        if allow := exc.headers.get("Allow"):
            response.headers["Allow"] = allow
        return response


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Log one structured line per answered request (off unless asked for)."""
    started = time.perf_counter()
    response = await handler(request)
    logger.info(
        "request",
        app="tws_sim",
        method=request.method,
        path=request.path,
        status=response.status,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return response


def create_app(settings: ServerSettings | None = None) -> web.Application:
    """Build the simulator for ``settings`` (default: ``ServerSettings()``, seed 42)."""
    settings = settings or ServerSettings()
    catalog = Catalog(build_dataset(settings.seed, user=settings.user))
    injector = FaultInjector(settings.faults, seed=settings.seed)
    middlewares = [json_errors_middleware]
    if settings.access_log:
        middlewares.insert(0, access_log_middleware)
    app = web.Application(middlewares=middlewares)
    add_control_routes(app, injector)
    app.add_subapp("/twsd", create_twsd_app(catalog, injector, settings.user, settings.password))
    return app
