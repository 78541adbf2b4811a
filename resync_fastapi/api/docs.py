"""Serve Swagger UI (``/docs``) and ReDoc (``/redoc``) from files shipped with the package.

FastAPI's own pages load their scripts from a CDN and run an inline script, so they fail
offline and cannot carry a strict Content-Security-Policy. Here the Swagger UI and ReDoc bundles
come from the ``fastapi-offline`` wheel (pinned in requirements.lock), the small start-up
scripts from ``docs_static/``, and every page forbids inline scripts and any other origin.

Routes (all outside the OpenAPI document, all new side only):

- ``GET /docs``: Swagger UI; ``GET /docs/oauth2-redirect``: its OAuth2 helper;
- ``GET /redoc``: ReDoc;
- ``GET /docs/assets/{name}``: the pages' scripts, styles and icon (a fixed list; 404 else).
"""

from __future__ import annotations

import html
from importlib.util import find_spec
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

from resync_fastapi.core.exceptions import NotFound

__all__ = [
    "ASSETS_PATH",
    "DOCS_CSP",
    "REDOC_CSP",
    "install_docs",
]

ASSETS_PATH = "/docs/assets"


def _vendor_static() -> Path:
    # The wheel's static/ folder, found without importing fastapi_offline (nothing of its code
    # is used) nor importlib.resources: building the app loads neither.
    spec = find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        raise RuntimeError("fastapi-offline is not installed (requirements.lock pins it)")
    return Path(spec.origin).parent / "static"


_VENDOR = _vendor_static()
_OWN = Path(__file__).resolve().parent / "docs_static"
_ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (_VENDOR / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (_VENDOR / "swagger-ui.css", "text/css"),
    "redoc.standalone.js": (_VENDOR / "redoc.standalone.js", "text/javascript"),
    "favicon.png": (_VENDOR / "favicon.png", "image/png"),
    "swagger-init.js": (_OWN / "swagger-init.js", "text/javascript"),
    "redoc-init.js": (_OWN / "redoc-init.js", "text/javascript"),
    "oauth2-redirect.js": (_OWN / "oauth2-redirect.js", "text/javascript"),
}

_COMMON = [
    "default-src 'none'",
    "script-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
]
# Swagger UI sets styles through the DOM only, so the dashboard's rules hold as they are.
DOCS_CSP = "; ".join([*_COMMON, "style-src 'self'"])
# ReDoc (styled-components) writes <style> elements at run time and searches in a blob: worker;
# scripts stay same-origin only.
REDOC_CSP = "; ".join([*_COMMON, "style-src 'self' 'unsafe-inline'", "worker-src blob:"])


def _headers(policy: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


def _page(title: str, head: str, body: str) -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"{head}</head>\n<body>\n{body}</body>\n</html>\n"
    )


def install_docs(app: FastAPI, *, title: str) -> None:
    """Add the documentation pages and their assets to ``app`` (created with no docs URLs)."""
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    async def swagger_ui(request: Request) -> Response:
        root = html.escape(request.scope.get("root_path", ""), quote=True)
        assets = f"{root}{ASSETS_PATH}"
        page = _page(
            f"{title} - Swagger UI",
            f'<link rel="icon" href="{assets}/favicon.png">\n'
            f'<link rel="stylesheet" href="{assets}/swagger-ui.css">\n',
            f'<div id="swagger-ui" data-openapi-url="{root}{openapi_url}"'
            f' data-oauth2-redirect-url="{root}{redirect_url}"></div>\n'
            f'<script src="{assets}/swagger-ui-bundle.js"></script>\n'
            f'<script src="{assets}/swagger-init.js"></script>\n',
        )
        return HTMLResponse(page, headers=_headers(DOCS_CSP))

    async def oauth2_redirect(request: Request) -> Response:
        root = html.escape(request.scope.get("root_path", ""), quote=True)
        page = _page(
            "Swagger UI: OAuth2 Redirect",
            "",
            f'<script src="{root}{ASSETS_PATH}/oauth2-redirect.js"></script>\n',
        )
        return HTMLResponse(page, headers=_headers(DOCS_CSP))

    async def redoc(request: Request) -> Response:
        root = html.escape(request.scope.get("root_path", ""), quote=True)
        assets = f"{root}{ASSETS_PATH}"
        page = _page(
            f"{title} - ReDoc",
            f'<link rel="icon" href="{assets}/favicon.png">\n',
            f'<div id="redoc" data-openapi-url="{root}{openapi_url}"></div>\n'
            f'<script src="{assets}/redoc.standalone.js"></script>\n'
            f'<script src="{assets}/redoc-init.js"></script>\n',
        )
        return HTMLResponse(page, headers=_headers(REDOC_CSP))

    async def asset(request: Request) -> Response:
        found = _ASSETS.get(request.path_params["name"])
        if found is None:
            raise NotFound()
        path, media_type = found
        response = FileResponse(path, media_type=media_type)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-cache"  # revalidate (ETag) after an upgrade
        return response

    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route(redirect_url, oauth2_redirect, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
    app.add_route(ASSETS_PATH + "/{name}", asset, include_in_schema=False)
