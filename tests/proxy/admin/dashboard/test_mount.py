"""Serve the dashboard from a FastAPI app: the page, its assets, headers and route precedence."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

import proxy.admin.dashboard
from proxy.admin.dashboard import STATIC_DIR, mount_dashboard

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def build_app(*, catch_all_first: bool) -> FastAPI:
    """An app whose catch-all (standing for the proxy's dispatcher) may be registered first."""
    app = FastAPI()

    async def catch_all(rest: str) -> PlainTextResponse:
        return PlainTextResponse(f"dispatched {rest}")

    if catch_all_first:
        app.add_api_route("/{rest:path}", catch_all, methods=["GET"])
        mount_dashboard(app)
    else:
        mount_dashboard(app)
        app.add_api_route("/{rest:path}", catch_all, methods=["GET"])
    return app


async def get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy.test") as client:
        return await client.get(path)


@pytest.fixture(
    params=[pytest.param(True, id="catch-all-first"), pytest.param(False, id="dashboard-first")]
)
def app(request: pytest.FixtureRequest) -> FastAPI:
    return build_app(catch_all_first=request.param)


def test_public_surface_is_pinned() -> None:
    assert sorted(proxy.admin.dashboard.__all__) == [
        "DASHBOARD_PATH",
        "STATIC_DIR",
        "mount_dashboard",
    ]


async def test_page_is_served_with_a_strict_policy(app: FastAPI) -> None:
    response = await get(app, "/_strangler/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text == (STATIC_DIR / "index.html").read_text()
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("asset", "content_type"),
    [
        pytest.param("app.js", "javascript", id="script"),
        pytest.param("app.css", "text/css", id="stylesheet"),
    ],
)
async def test_assets_are_served_from_the_package(
    app: FastAPI, asset: str, content_type: str
) -> None:
    response = await get(app, f"/_strangler/static/{asset}")
    assert response.status_code == 200
    assert content_type in response.headers["content-type"]
    assert response.content == (STATIC_DIR / asset).read_bytes()
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_unknown_asset_is_a_404_not_the_dispatcher(app: FastAPI) -> None:
    response = await get(app, "/_strangler/static/missing.js")
    assert response.status_code == 404


async def test_path_without_slash_redirects_to_the_page(app: FastAPI) -> None:
    response = await get(app, "/_strangler")
    assert response.status_code == 307
    assert response.headers["location"] == "/_strangler/"


async def test_other_paths_still_reach_the_dispatcher(app: FastAPI) -> None:
    response = await get(app, "/api/v1/agents")
    assert response.text == "dispatched api/v1/agents"


def test_page_references_only_local_assets() -> None:
    html = (STATIC_DIR / "index.html").read_text()
    for url in re.findall(r'(?:src|href)="([^"#]+)"', html):
        assert not re.match(r"^(https?:)?//", url), url
        assert (STATIC_DIR / url.removeprefix("static/")).is_file(), url
    assert "<script>" not in html and " style=" not in html  # the CSP forbids inline code


def test_script_never_writes_html_from_data() -> None:
    script = (STATIC_DIR / "app.js").read_text()
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", script)
