"""Drive the dashboard in headless Chromium against a served proxy, as an operator would."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.proxy.admin.dashboard.conftest import PASSWORDS, ProxyServer, open_signed_in, screenshot

pytestmark = pytest.mark.browser

FLIP_ROUTE = "GET /api/v1/agents"
FLIP_PATH = "/api/v1/agents"


def sign_in(page: Any, proxy: ProxyServer, role: str = "admin") -> None:
    page.goto(proxy.dashboard_url)
    page.get_by_label("Username").fill(role)
    page.get_by_label("Password").fill(PASSWORDS[role])
    page.get_by_role("button", name="Sign in").click()


def signed_in(page: Any, proxy: ProxyServer, *, through_form: bool = False) -> Any:
    if through_form:
        sign_in(page, proxy)
    else:
        open_signed_in(page, proxy)
    expect(page.locator("#app-view")).to_be_visible()
    expect(page.locator("#routes-body tr[data-route]").first).to_be_visible()
    return page


def row(page: Any, route: str) -> Any:
    return page.locator(f'#routes-body tr[data-route="{route}"]')


def open_change_dialog(page: Any, route: str) -> Any:
    row(page, route).get_by_role("button", name=re.compile("^Change")).click()
    dialog = page.locator("#mode-dialog")
    expect(dialog).to_be_visible()
    return dialog


def test_admin_signs_in_and_sees_every_route(page: Any, proxy: ProxyServer) -> None:
    signed_in(page, proxy, through_form=True)
    routes = proxy.routes()
    expect(page.locator("#routes-body tr[data-route]")).to_have_count(len(routes))
    for key, item in routes.items():
        expect(row(page, key).locator(".col-mode")).to_contain_text(item["mode"])
    expect(page.locator("#session-user")).to_have_text("admin")
    assert page.evaluate("sessionStorage.getItem('strangler.token')")
    assert page.evaluate("localStorage.length") == 0
    screenshot(page, "laptop-routes")


def test_signing_out_forgets_the_token(page: Any, proxy: ProxyServer) -> None:
    signed_in(page, proxy, through_form=True)
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#signin-view")).to_be_visible()
    expect(page.locator("#app-view")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('strangler.token')") is None
    expect(page.locator("#routes-body tr")).to_have_count(0)


def test_wrong_password_shows_the_problem_detail(page: Any, proxy: ProxyServer) -> None:
    page.goto(proxy.dashboard_url)
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-error")).to_have_text("Invalid username or password.")
    screenshot(page, "sign-in-refused", full_page=False)
    expect(page.locator("#app-view")).to_be_hidden()


@pytest.mark.parametrize(
    "role", [pytest.param("viewer", id="viewer"), pytest.param("operator", id="operator")]
)
def test_non_admin_is_told_admin_role_is_required_and_sees_nothing(
    page: Any, proxy: ProxyServer, role: str
) -> None:
    with page.expect_request("**/api/v1/auth/logout") as logout:  # the refused token is revoked
        sign_in(page, proxy, role)
    assert logout.value.headers["authorization"].startswith("Bearer ")
    expect(page.get_by_role("heading", name="Admin role required")).to_be_visible()
    expect(page.locator("#forbidden-message")).to_contain_text(f"{role} is not an administrator")
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    expect(page.locator("#app-view")).to_be_hidden()
    expect(page.locator("#routes-body tr")).to_have_count(0)
    expect(page.locator("#events li")).to_have_count(0)
    assert page.evaluate("sessionStorage.getItem('strangler.token')") is None
    if role == "viewer":
        screenshot(page, "viewer-refused")
    page.get_by_role("button", name="Sign in with another account").click()
    expect(page.get_by_label("Username")).to_be_focused()


def test_flipping_a_route_to_new_serves_it_from_the_new_side(page: Any, proxy: ProxyServer) -> None:
    assert proxy.served_by(FLIP_PATH) == "legacy"
    signed_in(page, proxy)
    dialog = open_change_dialog(page, FLIP_ROUTE)
    dialog.get_by_label("New mode").select_option("new")
    dialog.get_by_label(re.compile("^Reason")).fill("flip agents list after a clean shadow week")
    dialog.get_by_role("button", name="Review change").click()
    expect(dialog.locator("#mode-summary")).to_have_text(f"Set {FLIP_ROUTE} from legacy to new?")
    screenshot(page, "mode-dialog-confirm", full_page=False)
    dialog.get_by_role("button", name="Apply change").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("status")).to_contain_text(f"{FLIP_ROUTE} is now new")
    expect(row(page, FLIP_ROUTE).locator(".col-mode")).to_have_text("new")
    assert proxy.routes()[FLIP_ROUTE]["mode"] == "new"
    assert proxy.wait_served_by(FLIP_PATH, "new") == "new"
    newest = page.locator("#events li").first
    expect(newest).to_contain_text(FLIP_ROUTE)
    expect(newest).to_contain_text("flip agents list after a clean shadow week")
    expect(newest.locator(".event-meta")).to_contain_text("admin")
    screenshot(page, "after-flip")


def test_canary_percentage_is_set_from_the_dialog(page: Any, proxy: ProxyServer) -> None:
    signed_in(page, proxy)
    dialog = open_change_dialog(page, FLIP_ROUTE)
    expect(dialog.get_by_label(re.compile("Share sent to the new side"))).to_be_hidden()
    dialog.get_by_label("New mode").select_option("canary")
    percent = dialog.get_by_label(re.compile("Share sent to the new side"))
    percent.fill("25")
    dialog.get_by_label(re.compile("^Reason")).fill("canary a quarter of users")
    screenshot(page, "mode-dialog-canary", full_page=False)
    dialog.get_by_role("button", name="Review change").click()
    expect(dialog.locator("#mode-summary")).to_contain_text("canary, 25% to new")
    dialog.get_by_role("button", name="Apply change").click()
    expect(row(page, FLIP_ROUTE).locator(".col-mode")).to_have_text("canary 25%")
    flag = proxy.routes()[FLIP_ROUTE]
    assert (flag["mode"], flag["percent"]) == ("canary", 25)


def test_percent_outside_0_to_100_is_refused_before_sending(page: Any, proxy: ProxyServer) -> None:
    signed_in(page, proxy)
    version = proxy.admin("GET", "routes")["version"]
    dialog = open_change_dialog(page, FLIP_ROUTE)
    dialog.get_by_label("New mode").select_option("canary")
    dialog.get_by_label(re.compile("Share sent to the new side")).fill("150")
    dialog.get_by_label(re.compile("^Reason")).fill("too much")
    dialog.get_by_role("button", name="Review change").click()
    expect(dialog.locator("#mode-step-confirm")).to_be_hidden()
    assert dialog.get_by_label(re.compile("Share sent")).evaluate("el => !el.validity.valid")
    assert proxy.admin("GET", "routes")["version"] == version


def test_a_change_to_the_current_setting_is_refused_before_sending(
    page: Any, proxy: ProxyServer
) -> None:
    signed_in(page, proxy)
    version = proxy.admin("GET", "routes")["version"]
    dialog = open_change_dialog(page, FLIP_ROUTE)
    expect(dialog.get_by_label("New mode")).to_have_value("legacy")
    dialog.get_by_label(re.compile("^Reason")).fill("nothing to do")
    dialog.get_by_role("button", name="Review change").click()
    expect(dialog.locator("#mode-step-confirm")).to_be_hidden()
    message = dialog.get_by_label("New mode").evaluate("el => el.validationMessage")
    assert message == "This is the route's current setting."
    assert proxy.admin("GET", "routes")["version"] == version


def test_reason_is_required(page: Any, proxy: ProxyServer) -> None:
    signed_in(page, proxy)
    dialog = open_change_dialog(page, FLIP_ROUTE)
    dialog.get_by_label("New mode").select_option("shadow")
    dialog.get_by_label(re.compile("^Reason")).fill("   ")
    dialog.get_by_role("button", name="Review change").click()
    expect(dialog.locator("#mode-step-confirm")).to_be_hidden()
    assert dialog.get_by_label(re.compile("^Reason")).evaluate("el => el.validationMessage")


def test_kill_switch_needs_typed_confirmation_and_sends_everything_to_legacy(
    page: Any, proxy: ProxyServer
) -> None:
    proxy.admin("POST", "routes", json={"route": FLIP_ROUTE, "mode": "new", "reason": "arrange"})
    assert proxy.wait_served_by(FLIP_PATH, "new") == "new"
    signed_in(page, proxy)
    expect(row(page, FLIP_ROUTE).locator(".col-mode")).to_have_text("new")
    page.get_by_role("button", name="Kill switch…").click()
    dialog = page.locator("#kill-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#kill-reason")).to_be_focused()
    dialog.get_by_label(re.compile("^Reason")).fill("error spike on the new side")
    submit = dialog.get_by_role("button", name="Send every route to legacy")
    dialog.get_by_label("Type KILL to confirm").fill("kill")
    expect(submit).to_be_disabled()
    dialog.get_by_label("Type KILL to confirm").fill("KILL")
    expect(submit).to_be_enabled()
    screenshot(page, "kill-dialog", full_page=False)
    submit.click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("status")).to_contain_text("Kill switch pulled")
    for key, item in proxy.routes().items():
        if "legacy" in item["sides"]:
            assert item["mode"] == "legacy", key
            expect(row(page, key).locator(".col-mode")).to_have_text("legacy")
    assert proxy.wait_served_by(FLIP_PATH, "legacy") == "legacy"
    expect(page.locator("#events li").first).to_contain_text("error spike on the new side")
    expect(page.locator("#kill-open")).to_be_focused()


def test_changes_made_elsewhere_appear_without_a_reload(page: Any, proxy: ProxyServer) -> None:
    signed_in(page, proxy)
    page.evaluate("window.__sameDocument = true")
    proxy.admin(
        "POST", "routes", json={"route": FLIP_ROUTE, "mode": "shadow", "reason": "from the CLI"}
    )
    expect(row(page, FLIP_ROUTE).locator(".col-mode")).to_have_text("shadow")
    expect(page.locator("#events li").first).to_contain_text("from the CLI")
    assert page.evaluate("window.__sameDocument") is True


def test_a_stale_version_is_reported_not_applied(page: Any, proxy: ProxyServer) -> None:
    signed_in(page, proxy)
    dialog = open_change_dialog(page, FLIP_ROUTE)
    dialog.get_by_label("New mode").select_option("new")
    dialog.get_by_label(re.compile("^Reason")).fill("racing another operator")
    dialog.get_by_role("button", name="Review change").click()
    proxy.admin(
        "POST", "routes", json={"route": FLIP_ROUTE, "mode": "shadow", "reason": "got there first"}
    )
    dialog.get_by_role("button", name="Apply change").click()
    expect(dialog.locator("#mode-error")).to_contain_text("Someone else changed the flags")
    assert proxy.routes()[FLIP_ROUTE]["mode"] == "shadow"


def test_server_text_is_shown_as_text_never_as_markup(page: Any, proxy: ProxyServer) -> None:
    payload = '<img src="x" onerror="window.__injected = 1"><b>bold</b>'
    proxy.admin("POST", "routes", json={"route": FLIP_ROUTE, "mode": "shadow", "reason": payload})
    signed_in(page, proxy)
    newest = page.locator("#events li").first
    expect(newest.locator(".event-reason")).to_have_text(payload)
    expect(page.locator("#events img, #events b")).to_have_count(0)
    assert page.evaluate("window.__injected") is None


def test_filters_narrow_the_table_by_mode_and_path(page: Any, proxy: ProxyServer) -> None:
    proxy.admin("POST", "routes", json={"route": FLIP_ROUTE, "mode": "new", "reason": "arrange"})
    signed_in(page, proxy)
    page.get_by_label("Mode", exact=True).select_option("new")
    new_routes = [k for k, v in proxy.routes().items() if v["mode"] == "new"]
    expect(page.locator("#routes-body tr[data-route]")).to_have_count(len(new_routes))
    page.get_by_label("Mode", exact=True).select_option("")
    page.get_by_label("Path contains").fill("agents/{agent_id}")
    expected = [k for k in proxy.routes() if "agents/{agent_id}" in k]
    expect(page.locator("#routes-body tr[data-route]")).to_have_count(len(expected))
    page.get_by_label("Path contains").fill("no-such-route-anywhere")
    expect(page.locator("#routes-body")).to_contain_text("No route matches the filters.")


def test_mode_form_works_from_the_keyboard_and_returns_focus(page: Any, proxy: ProxyServer) -> None:
    signed_in(page, proxy)
    page.get_by_label("Path contains").focus()
    page.keyboard.type(FLIP_PATH)
    expect(page.locator("#routes-body tr[data-route]").first).to_have_attribute(
        "data-route", FLIP_ROUTE
    )
    page.keyboard.press("Tab")  # the scrollable table region
    page.keyboard.press("Tab")  # the first row's Change button
    button = row(page, FLIP_ROUTE).get_by_role("button", name=re.compile("^Change"))
    expect(button).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#mode-dialog")).to_be_visible()
    expect(page.locator("#mode-select")).to_be_focused()
    page.keyboard.press("ArrowDown")  # legacy -> new
    expect(page.locator("#mode-select")).to_have_value("new")
    page.keyboard.press("Tab")
    expect(page.locator("#mode-reason")).to_be_focused()
    page.keyboard.type("flipped from the keyboard")
    page.keyboard.press("Enter")
    expect(page.locator("#mode-step-confirm")).to_be_visible()
    expect(page.get_by_role("button", name="Apply change")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#mode-dialog")).to_be_hidden()
    expect(row(page, FLIP_ROUTE).locator(".col-mode")).to_have_text("new")
    expect(button).to_be_focused()
    assert proxy.routes()[FLIP_ROUTE]["mode"] == "new"


def test_escape_closes_the_dialog_without_changing_anything(page: Any, proxy: ProxyServer) -> None:
    signed_in(page, proxy)
    version = proxy.admin("GET", "routes")["version"]
    open_change_dialog(page, FLIP_ROUTE)
    page.keyboard.press("Escape")
    expect(page.locator("#mode-dialog")).to_be_hidden()
    expect(row(page, FLIP_ROUTE).get_by_role("button", name=re.compile("^Change"))).to_be_focused()
    assert proxy.admin("GET", "routes")["version"] == version


def test_phone_width_scrolls_the_table_not_the_page(page_factory: Any, proxy: ProxyServer) -> None:
    page = page_factory(390, 844)
    signed_in(page, proxy)
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    wrap = page.locator("#routes-wrap")
    expect(wrap).to_be_visible()
    box = wrap.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert wrap.evaluate("el => el.scrollWidth > el.clientWidth")  # it scrolls, inside
    button = row(page, FLIP_ROUTE).get_by_role("button", name=re.compile("^Change"))
    button.scroll_into_view_if_needed()
    expect(button).to_be_in_viewport()
    screenshot(page, "phone-routes")
    screenshot(page, "phone-table", full_page=False)
    button.click()
    expect(page.locator("#mode-dialog")).to_be_in_viewport()
    screenshot(page, "phone-dialog", full_page=False)


def test_polling_pauses_while_the_tab_is_hidden(page: Any, proxy: ProxyServer) -> None:
    signed_in(page, proxy)
    expect(page.locator("#live-state")).to_have_text("Live")
    page.evaluate(
        """() => {
          Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
          document.dispatchEvent(new Event('visibilitychange'));
        }"""
    )
    expect(page.locator("#live-state")).to_contain_text("Paused")
    polled: list[str] = []
    page.on("request", lambda request: polled.append(request.url))
    page.wait_for_timeout(4500)  # more than two polling periods
    assert [url for url in polled if "/_strangler/routes" in url] == []
    with page.expect_request(re.compile(r"/_strangler/routes$")):
        page.evaluate(
            """() => {
              Object.defineProperty(document, 'visibilityState',
                                    {value: 'visible', configurable: true});
              document.dispatchEvent(new Event('visibilitychange'));
            }"""
        )
    expect(page.locator("#live-state")).to_have_text("Live")


def test_an_expired_access_token_is_renewed_with_the_refresh_token(
    page: Any, proxy: ProxyServer
) -> None:
    signed_in(page, proxy, through_form=True)
    first = page.evaluate("sessionStorage.getItem('strangler.token')")
    refresh = page.evaluate("sessionStorage.getItem('strangler.refresh')")
    assert first and refresh
    # What an expired token looks like to the admin API: refused with 401.
    page.evaluate("sessionStorage.setItem('strangler.token', 'expired-access-token')")
    page.wait_for_function(
        "(old) => !['expired-access-token', old]"
        ".includes(sessionStorage.getItem('strangler.token'))",
        arg=first,
    )
    assert page.evaluate("sessionStorage.getItem('strangler.refresh')") != refresh
    expect(page.locator("#app-view")).to_be_visible()
    proxy.admin("POST", "routes", json={"route": FLIP_ROUTE, "mode": "new", "reason": "later"})
    expect(row(page, FLIP_ROUTE).locator(".col-mode")).to_have_text("new")


def test_a_session_that_cannot_be_renewed_returns_to_sign_in(page: Any, proxy: ProxyServer) -> None:
    signed_in(page, proxy, through_form=True)
    page.evaluate(
        """() => {
          sessionStorage.setItem('strangler.token', 'expired-access-token');
          sessionStorage.setItem('strangler.refresh', 'revoked-refresh-token');
        }"""
    )
    expect(page.locator("#signin-view")).to_be_visible()
    expect(page.locator("#signin-error")).to_have_text("Your session has expired. Sign in again.")
    assert page.evaluate("sessionStorage.length") == 0
