"""The dashboard shows each route's plan, its current step, gate figures and history, and acts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.proxy.admin.dashboard.conftest import ProxyServer, open_signed_in, screenshot

pytestmark = pytest.mark.browser

ROUTE = "GET /api/v1/agents"
PATH = "/api/v1/agents"


@pytest.fixture
def planned(proxy: ProxyServer) -> Iterator[ProxyServer]:
    """A shadow plan on the agents route, left again (aborted and deleted) afterwards."""
    proxy.admin(
        "POST",
        "plans",
        json={"route": ROUTE, "steps": "shadow 1h 100000req -> new", "reason": "dashboard test"},
    )
    try:
        yield proxy
    finally:
        for action in ("abort", "delete"):
            httpx.post(
                f"{proxy.base_url}/_strangler/plans/{action}",
                json={"route": ROUTE, "reason": "test over"},
                headers=proxy.headers(),
                timeout=10,
            )


def _judged(proxy: ProxyServer) -> dict[str, Any] | None:
    (item,) = [p for p in proxy.admin("GET", "plans")["items"] if p["route"] == ROUTE]
    verdict = item.get("verdict") or {}
    return item if verdict.get("gates", {}).get("mismatches") else None


def test_a_plan_shows_its_step_gate_figures_and_history_and_can_be_paused(
    page: Any, planned: ProxyServer
) -> None:
    proxy = planned
    proxy.wait_served_by(PATH, "legacy")
    deadline = time.monotonic() + 30
    while not _judged(proxy):  # shadow traffic until the autopilot has judged comparisons
        assert time.monotonic() < deadline, "the autopilot never judged the shadow step"
        for _ in range(10):
            proxy.served_by(PATH)
        time.sleep(0.3)

    open_signed_in(page, proxy)
    plan = page.locator(f'#plans article[data-route="{ROUTE}"]')
    expect(plan).to_be_visible()
    expect(plan.locator(".plan-status")).to_have_text("running")
    expect(plan.locator(".plan-current")).to_have_text("step 1 of 2: shadow")
    expect(plan.locator(".plan-step")).to_have_count(2)
    expect(plan.locator(".plan-step-current")).to_have_text("shadow")
    expect(plan.locator('tr[data-gate="mismatches"] td').last).to_have_text("ok")
    expect(plan.locator(".plan-figures")).to_contain_text("match")
    expect(page.locator("#plans-lease")).to_contain_text("Driven by")
    expect(page.locator("#plan-history li").first).to_contain_text("step · shadow")
    screenshot(page, "plans")

    plan.get_by_role("button", name="pause").click()
    expect(page.locator("#status")).to_contain_text("Give a reason")
    page.get_by_label("Reason for a plan action").fill("looking at a diff")
    plan.get_by_role("button", name="pause").click()
    expect(plan.locator(".plan-status")).to_have_text("paused")
    expect(plan.locator(".plan-reason")).to_contain_text("paused by admin: looking at a diff")
    expect(plan.get_by_role("button", name="resume")).to_be_visible()
    expect(page.locator("#plan-history li").first).to_contain_text("pause")
    (item,) = [p for p in proxy.admin("GET", "plans")["items"] if p["route"] == ROUTE]
    assert item["status"] == "paused"
