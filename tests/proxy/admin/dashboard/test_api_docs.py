"""Swagger UI and ReDoc through the proxy, in headless Chromium with no outside network.

Every request the page makes to a host other than the proxy is aborted and recorded, and every
console error (a Content-Security-Policy violation is one) is kept: the pages must render from
the package's own files, under their CSP. The test lives here because it needs the dashboard's
served proxy and browser fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.proxy.admin.dashboard.conftest import PASSWORDS, ProxyServer

pytestmark = pytest.mark.browser

RENDER = 30_000  # ms: the bundles are 1 to 1.5 MB of JavaScript on a busy 2-core machine


@dataclass
class Watched:
    page: Any
    outside: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


@pytest.fixture
def offline_page(browser: Any, proxy: ProxyServer) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    watched = Watched(page)
    origin = proxy.base_url

    def only_the_proxy(route: Any) -> None:
        if route.request.url.startswith(origin):
            route.continue_()
        else:
            watched.outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_proxy)
    page.on("console", lambda m: m.type == "error" and watched.console_errors.append(m.text))
    page.on("pageerror", lambda exc: watched.console_errors.append(f"uncaught: {exc}"))
    yield watched
    context.close()


def test_swagger_ui_renders_offline_with_no_csp_violation(
    offline_page: Watched, proxy: ProxyServer
) -> None:
    page = offline_page.page
    response = page.goto(f"{proxy.base_url}/docs")
    assert response is not None and response.status == 200
    assert response.headers["x-served-by"] == "new"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Resync API", timeout=RENDER)
    expect(page.locator(".opblock-tag").first).to_be_visible(timeout=RENDER)
    expect(page.get_by_text("/api/v1/agents/{agent_id}")).to_be_visible()
    assert offline_page.outside == []
    assert offline_page.console_errors == []


def test_swagger_ui_logs_in_with_the_password_flow(
    offline_page: Watched, proxy: ProxyServer
) -> None:
    """Authorize posts the OAuth2 password form to /api/v1/auth/login (connect-src 'self')."""
    page = offline_page.page
    page.goto(f"{proxy.base_url}/docs")
    expect(page.get_by_role("button", name="Authorize").first).to_be_visible(timeout=RENDER)
    page.get_by_role("button", name="Authorize").first.click()
    page.locator("#oauth_username").fill("viewer")
    page.locator("#oauth_password").fill(PASSWORDS["viewer"])
    with page.expect_response(lambda r: r.url.endswith("/api/v1/auth/login")) as login:
        page.locator(".auth-btn-wrapper .authorize").click()
    assert login.value.status == 200
    expect(page.locator(".modal-ux")).to_contain_text("Authorized")
    assert offline_page.outside == []
    assert offline_page.console_errors == []


def test_redoc_renders_offline(offline_page: Watched, proxy: ProxyServer) -> None:
    page = offline_page.page
    response = page.goto(f"{proxy.base_url}/redoc")
    assert response is not None and response.status == 200
    expect(page.locator("h1").first).to_contain_text("Resync API", timeout=RENDER)
    expect(page.get_by_text("/api/v1/rag/upload").first).to_be_attached(timeout=RENDER)
    assert offline_page.outside == []
    # ReDoc always draws Redocly's logo from its CDN; the CSP blocks it (and nothing else).
    assert all("cdn.redoc.ly" in error for error in offline_page.console_errors), (
        offline_page.console_errors
    )


def test_the_assets_are_served_from_the_package(proxy: ProxyServer) -> None:
    for name, media_type in [
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("redoc.standalone.js", "text/javascript"),
        ("swagger-init.js", "text/javascript"),
    ]:
        response = httpx.get(f"{proxy.base_url}/docs/assets/{name}", timeout=10)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(media_type)
        assert response.headers["x-content-type-options"] == "nosniff"
    missing = httpx.get(f"{proxy.base_url}/docs/assets/..%2Fmain.py", timeout=10)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
