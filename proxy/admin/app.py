"""Serve the admin API under ``/_strangler`` and the Prometheus text on ``/metrics``.

Every route but ``/_strangler/health`` (and the dashboard page, which signs in by itself) needs an
admin bearer token. The app is one router per resource over one :class:`AdminContext`:

- ``routes``: ``/_strangler/routes`` (list, set, bulk, import) and ``/_strangler/kill-switch``;
- ``events``: ``/_strangler/events``;
- ``health``: ``/_strangler/health``, ``stats``, ``progress`` and ``/metrics``;
- ``mismatches``: ``/_strangler/mismatches[/{id}]``;
- the dashboard (``dashboard/``), when installed; the rollout mounts ``/_strangler/plans`` itself.

Errors are problem documents (``common``), validation errors 400 (never 422).
"""

from __future__ import annotations

from fastapi import FastAPI

from proxy.admin.common import install_problem_handlers
from proxy.admin.context import AdminContext
from proxy.admin.dashboard import mount_dashboard
from proxy.admin.events import create_events_router
from proxy.admin.health import create_health_router
from proxy.admin.mismatches import create_mismatches_router
from proxy.admin.routes import create_routes_router

__all__ = ["create_admin_app"]


def create_admin_app(context: AdminContext) -> FastAPI:
    """Return the FastAPI app of the admin API over one worker's admin context."""
    app = FastAPI(
        title="Resync strangler admin API",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.context = context
    app.state.token_verifier = context.token_verifier  # what proxy.auth.require_admin reads
    install_problem_handlers(app)
    app.include_router(create_health_router(context))
    app.include_router(create_routes_router(context))
    app.include_router(create_events_router(context))
    app.include_router(create_mismatches_router(context))
    mount_dashboard(app, context.sign_in)
    return app
