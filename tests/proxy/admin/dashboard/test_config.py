"""Issue 16, fault 5: the dashboard signs in where the composition says, with the served modes.

The page hard-coded ``/api/v1/auth/*`` and a copy of the modes; now it reads both from
``/_strangler/dashboard.json``. A Resync proxy composed with another sign-in path (a gateway
that moved the session endpoints) still signs in, renews nothing it should not and signs out
through the served paths; the mode pickers list exactly what the proxy serves.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from proxy.modes import Mode
from proxy.resync import RESYNC_SIGN_IN
from tests.proxy.admin.dashboard.conftest import (
    PASSWORDS,
    ProxyServer,
    open_signed_in,
    serve_proxy,
)
from tests.proxy.admin.dashboard.relocated import FACTORY, RELOCATED
from tests.services import TwsSim

pytestmark = pytest.mark.browser

MODES = [mode.value for mode in Mode]


@pytest.fixture(scope="module")
def relocated(
    tmp_path_factory: pytest.TempPathFactory, resync_database: str, tws_sim_process: TwsSim
) -> Iterator[ProxyServer]:
    workdir: Path = tmp_path_factory.mktemp("dashboard-relocated")
    with serve_proxy(
        workdir, resync_database, tws_sim_process, factory=FACTORY, login_path=RELOCATED.login
    ) as server:
        yield server


def options(page: Any, selector: str) -> list[str]:
    return list(page.locator(f"{selector} option").evaluate_all("els => els.map(e => e.value)"))


def test_the_resync_proxy_serves_its_sign_in_and_the_modes(proxy: ProxyServer) -> None:
    response = httpx.get(f"{proxy.base_url}/_strangler/dashboard.json", timeout=10)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    config = response.json()
    assert config["sign_in"] == asdict(RESYNC_SIGN_IN)
    assert config["modes"] == [{"mode": mode.value, "hint": mode.hint} for mode in Mode]


def test_a_proxy_composed_with_another_sign_in_path_still_signs_in(
    page: Any, relocated: ProxyServer
) -> None:
    base = relocated.base_url
    assert httpx.get(f"{base}/_strangler/dashboard.json").json()["sign_in"] == asdict(RELOCATED)
    # The hard-coded path is gone on this proxy: only the served one can sign in.
    refused = httpx.post(f"{base}/api/v1/auth/login", json={"username": "admin", "password": "x"})
    assert refused.status_code == 404
    posted: list[str] = []
    page.on("request", lambda r: posted.append(urlsplit(r.url).path) if r.method == "POST" else 0)

    page.goto(f"{base}/_strangler/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(PASSWORDS["admin"])
    page.get_by_role("button", name="Sign in").click()

    expect(page.locator("#app-view")).to_be_visible()
    expect(page.locator("#routes-body tr[data-route]").first).to_be_visible()
    expect(page.locator("#session-user")).to_have_text("admin")
    assert posted == [RELOCATED.login]
    assert options(page, "#filter-mode") == ["", *MODES]

    with page.expect_request(lambda r: urlsplit(r.url).path == RELOCATED.logout):
        page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#signin-view")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('strangler.token')") is None


def test_the_mode_pickers_list_what_the_proxy_serves(page: Any, proxy: ProxyServer) -> None:
    """Served modes, not a copy: a document listing two modes gives pickers of two modes."""

    def two_modes(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        body["modes"] = [item for item in body["modes"] if item["mode"] in ("legacy", "new")]
        route.fulfill(response=response, json=body)

    page.route("**/_strangler/dashboard.json", two_modes)
    open_signed_in(page, proxy)
    expect(page.locator("#routes-body tr[data-route]").first).to_be_visible()
    assert options(page, "#filter-mode") == ["", "legacy", "new"]
    page.locator("#routes-body tr[data-route]").first.get_by_role("button").first.click()
    expect(page.locator("#mode-dialog")).to_be_visible()
    assert options(page, "#mode-select") == ["legacy", "new"]
    expect(page.locator("#mode-hint")).to_have_text(Mode.LEGACY.hint)
