"""Check the dashboard's accessibility basics in the rendered page: names, headers, contrast."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.proxy.admin.dashboard.conftest import ProxyServer, open_signed_in

pytestmark = pytest.mark.browser

UNNAMED_CONTROLS = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter((el) => {
    const named = el.labels?.length || el.getAttribute('aria-label')
      || el.getAttribute('aria-labelledby') || (el.tagName === 'BUTTON' && el.textContent.trim());
    return !named;
  })
  .map((el) => el.outerHTML.slice(0, 120))"""

# WCAG 2.x contrast of every visible text node against the first opaque background behind it.
LOW_CONTRAST = """() => {
  const rgb = (value) => (value.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92
      : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const parts = rgb(getComputedStyle(node).backgroundColor);
      if (parts.length === 3 || (parts.length === 4 && parts[3] === 1)) return parts.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const bad = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let text = walker.nextNode(); text; text = walker.nextNode()) {
    const el = text.parentElement;
    if (!text.textContent.trim() || !el.checkVisibility() || el.closest('.visually-hidden')
        || el.closest(':disabled') || el.closest('option')) continue;
    const style = getComputedStyle(el);
    const [l1, l2] = [lum(rgb(style.color).slice(0, 3)), lum(background(el))];
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      bad.push(`${ratio.toFixed(2)} ${el.tagName}.${el.className}: ${text.textContent.trim()}`);
    }
  }
  return bad;
}"""


@pytest.fixture
def dashboard(page: Any, proxy: ProxyServer) -> Any:
    proxy.admin(
        "POST",
        "routes",
        json={
            "route": "GET /api/v1/agents",
            "mode": "canary",
            "percent": 10,
            "reason": "show every badge colour",
        },
    )
    open_signed_in(page, proxy)
    expect(page.locator("#routes-body tr[data-route]").first).to_be_visible()
    expect(page.locator("#events li").first).to_be_visible()
    return page


def test_every_control_has_an_accessible_name(dashboard: Any) -> None:
    assert dashboard.evaluate(UNNAMED_CONTROLS) == []


def test_every_table_header_has_a_scope(dashboard: Any) -> None:
    scopes = dashboard.locator("#routes-table th").evaluate_all(
        "(cells) => cells.map((th) => th.getAttribute('scope'))"
    )
    assert scopes and set(scopes) <= {"col", "colgroup", "row"}
    rows = dashboard.locator("#routes-body tr[data-route]").count()
    assert scopes.count("row") == rows


def test_text_contrast_meets_wcag_aa(dashboard: Any) -> None:
    assert dashboard.evaluate(LOW_CONTRAST) == []


def test_sign_in_page_contrast_meets_wcag_aa(page: Any, proxy: ProxyServer) -> None:
    page.goto(proxy.dashboard_url)
    page.get_by_label("Username").fill("nobody")  # not admin: failures count towards lockout
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-error")).not_to_be_empty()
    assert page.evaluate(LOW_CONTRAST) == []
    assert page.evaluate(UNNAMED_CONTROLS) == []


def test_dialog_traps_focus_and_gives_it_back(dashboard: Any) -> None:
    opener = dashboard.locator('#routes-body tr[data-route="GET /api/v1/agents"] button')
    opener.click()
    dialog = dashboard.locator("#mode-dialog")
    expect(dialog).to_be_visible()
    for _ in range(8):  # more Tabs than the dialog has controls
        dashboard.keyboard.press("Tab")
        inside = dashboard.evaluate(
            "() => document.getElementById('mode-dialog').contains(document.activeElement)"
            " || document.activeElement === document.body"
        )
        assert inside
    dashboard.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()
