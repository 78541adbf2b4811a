"""Serve the operator dashboard: one static page that drives the proxy's admin API.

The page is plain HTML, CSS and JavaScript shipped inside this package (no build step, no CDN, no
network at run time). Loading it needs no authentication: it reads ``dashboard.json`` (where to
sign in, which the composition module says, and the modes: :mod:`.config`), signs in through the
apps' login endpoint, keeps the access token in ``sessionStorage`` and calls the admin API under
``/_strangler`` with it, so every permission check stays in the admin API itself.

Routes added by :func:`mount_dashboard`:

- ``GET /_strangler/``: the page (``static/index.html``) with a strict Content-Security-Policy;
- ``GET /_strangler``: a redirect to ``/_strangler/`` (the page's relative URLs need the slash);
- ``GET /_strangler/dashboard.json``: the sign-in endpoints and the modes (:mod:`.config`);
- ``/_strangler/static/...``: the page's assets.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from proxy.admin.dashboard.config import CONFIG_PATH, SignIn, dashboard_config

__all__ = ["DASHBOARD_PATH", "STATIC_DIR", "mount_dashboard"]

DASHBOARD_PATH = "/_strangler/"
STATIC_DIR = Path(__file__).resolve().parent / "static"

# Same-origin scripts, styles and API calls only; no inline code, no framing, and forms can never
# navigate (the page handles every submit in JavaScript), so a password cannot leak into a URL.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class DashboardStaticFiles(StaticFiles):
    """Serve the page's assets with ``nosniff`` and revalidation on every load."""

    def file_response(
        self,
        full_path: os.PathLike[str] | str,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["X-Content-Type-Options"] = "nosniff"
        # Revalidate (ETag / Last-Modified) so a deploy is picked up without a hard reload.
        response.headers["Cache-Control"] = "no-cache"
        return response


async def _index(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=PAGE_HEADERS)


async def _redirect_to_index(request: Request) -> Response:
    return RedirectResponse(DASHBOARD_PATH, status_code=307)


def dashboard_routes(sign_in: SignIn | None = None) -> list[BaseRoute]:
    """Build the dashboard's routes (the page, its redirect, its configuration and assets)."""
    config = dashboard_config(sign_in)

    async def _config(request: Request) -> Response:
        return JSONResponse(
            config, headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
        )

    return [
        Route(DASHBOARD_PATH, _index, methods=["GET"], name="strangler_dashboard"),
        Route(DASHBOARD_PATH.rstrip("/"), _redirect_to_index, methods=["GET"]),
        Route(CONFIG_PATH, _config, methods=["GET"], name="strangler_dashboard_config"),
        Mount(
            DASHBOARD_PATH + "static",
            app=DashboardStaticFiles(directory=STATIC_DIR),
            name="strangler_dashboard_static",
        ),
    ]


def mount_dashboard(app: FastAPI, sign_in: SignIn | None = None) -> None:
    """Serve the dashboard page at ``/_strangler/`` and its assets under ``/_strangler/static``.

    ``sign_in`` says where the page signs users in (the composition module knows; without it the
    page says that this proxy offers no sign-in).

    The routes go first in the router: the proxy sends every path it does not own to the apps
    behind it, and a catch-all registered before this call must not swallow the page.
    """
    app.router.routes[0:0] = dashboard_routes(sign_in)
