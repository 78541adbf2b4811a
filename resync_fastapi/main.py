"""Build the FastAPI app: ``create_app(settings) -> FastAPI``.

``uvicorn --factory resync_fastapi.main:create_app`` serves it alone; the strangler proxy
mounts the same factory in-process. The lifespan opens the one async engine and the one pooled
aiohttp session to TWS (plus the auth cache on that engine), and closes both on shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from resync_fastapi.api.docs import install_docs
from resync_fastapi.api.openapi import install_openapi
from resync_fastapi.api.v1 import API_PREFIX, include_api_routes
from resync_fastapi.api.v1.routes import health
from resync_fastapi.core.body_limit import BodyLimit, BodyLimitMiddleware
from resync_fastapi.core.config import Settings
from resync_fastapi.core.handlers import install_exception_handlers
from resync_fastapi.core.logging import RequestContextMiddleware, configure_logging
from resync_fastapi.core.responses import ResyncJSONResponse
from resync_fastapi.core.routing import RouteMethods, include_flat
from resync_fastapi.core.security import TokenService
from resync_fastapi.db import create_engine
from resync_fastapi.db.database import Database
from resync_fastapi.db.page_cache import PageCache, data_version_for
from resync_fastapi.services.auth import AuthenticatedUser, read_auth_version
from resync_fastapi.services.auth_cache import AuthCache
from resync_fastapi.services.tws import TwsClient, create_tws_session

__all__ = ["create_app"]

# Multipart framing around the file (boundaries, part headers) on top of RESYNC_RAG_MAX_BYTES.
MULTIPART_OVERHEAD = 64 * 1024

DESCRIPTION = """
The Resync API (TWS / HCL Workload Automation operators' assistant), FastAPI implementation.

Use **Authorize** with a demo user (`admin`, `operator`, `viewer`) to try the endpoints.
Errors are RFC 9457 problems (`application/problem+json`).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Return a configured app; ``settings`` default to the ``RESYNC_*`` environment."""
    settings = settings or Settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        http = create_tws_session(
            settings.tws_url,
            settings.tws_user,
            settings.tws_password,
            settings.tws_timeout,
            settings.tws_max_connections,
        )
        auth_cache: AuthCache[AuthenticatedUser] = AuthCache(
            partial(read_auth_version, engine), recheck_seconds=settings.auth_cache_seconds
        )
        app.state.engine = engine
        app.state.auth_cache = auth_cache
        app.state.database = Database(engine, on_auth_change=auth_cache.invalidate)
        app.state.tws_http = http
        app.state.tws = TwsClient(http)  # stateless: one for every request
        pages = PageCache(data_version_for(settings.database_url, enabled=settings.page_cache))
        app.state.pages = pages
        await pages.start()
        try:
            yield
        finally:
            await pages.aclose()
            await http.close()
            await engine.dispose()

    app = FastAPI(
        title="Resync API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        redirect_slashes=False,
        default_response_class=ResyncJSONResponse,
        docs_url=None,  # install_docs serves /docs and /redoc without a CDN
        redoc_url=None,
        # Resync exports no OpenTelemetry; left on, FastAPI asks the global providers whether
        # to trace on every request (about 2 % of a small request's CPU).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.tokens = TokenService(settings.secret_key)
    include_flat(app.router, health.router)
    include_api_routes(app.router)
    install_docs(app, title=app.title)
    install_exception_handlers(app)
    app.state.route_methods = RouteMethods(app.router.routes)
    install_openapi(app)

    upload_limit = BodyLimit(
        settings.rag_max_bytes + MULTIPART_OVERHEAD,
        f"The file exceeds the limit of {settings.rag_max_bytes} bytes.",
    )
    app.add_middleware(BodyLimitMiddleware, per_path={f"{API_PREFIX}/rag/upload": upload_limit})
    app.add_middleware(RequestContextMiddleware)  # added last: the outermost, the edge
    return app
