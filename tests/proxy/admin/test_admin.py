"""The admin API: guard, route changes with compare-and-set, bulk, kill switch, events, stats."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import pytest

from tests.proxy.harness import client, proxy_app, proxy_settings, set_mode  # noqa: F401
from tests.proxy.sample_apps import ADMIN

T = TypeVar("T")

GUARDED = [
    pytest.param("GET", "/_strangler/routes", None, id="routes"),
    pytest.param(
        "POST",
        "/_strangler/routes",
        {"route": "GET /api/items", "mode": "new", "reason": "x"},
        id="set",
    ),
    pytest.param("POST", "/_strangler/routes/bulk", {"mode": "new", "reason": "x"}, id="bulk"),
    pytest.param("POST", "/_strangler/kill-switch", {"reason": "x"}, id="kill-switch"),
    pytest.param("GET", "/_strangler/events", None, id="events"),
    pytest.param("GET", "/_strangler/stats", None, id="stats"),
    pytest.param("GET", "/_strangler/progress", None, id="progress"),
    pytest.param("GET", "/_strangler/mismatches", None, id="mismatches"),
]


def _eventually(fetch: Callable[[], T], ready: Callable[[T], bool], timeout: float = 5.0) -> T:
    deadline = time.monotonic() + timeout
    value = fetch()
    while not ready(value) and time.monotonic() < deadline:
        time.sleep(0.02)
        value = fetch()
    return value


def _call(http: httpx.Client, method: str, path: str, body: Any, **headers: str) -> httpx.Response:
    return http.request(method, path, json=body, headers=headers)


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = dict(response.json())
    assert list(problem)[:6] == ["type", "title", "status", "detail", "instance", "request_id"]
    assert problem["status"] == status
    assert problem["request_id"] == response.headers["x-request-id"]
    return problem


@pytest.mark.parametrize(("method", "path", "body"), GUARDED)
def test_no_token_is_refused_with_401(
    client: httpx.Client,  # noqa: F811
    method: str,
    path: str,
    body: Any,
) -> None:
    response = _call(client, method, path, body)
    problem = _problem(response, 401)
    assert problem["detail"] == "Missing bearer token."
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path", "body"), GUARDED)
def test_a_bad_token_is_refused_with_401(
    client: httpx.Client,  # noqa: F811
    method: str,
    path: str,
    body: Any,
) -> None:
    response = _call(client, method, path, body, Authorization="Bearer forged")
    assert _problem(response, 401)["detail"] == "Invalid or expired token."
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize("token", ["viewer-token", "operator-token"])
@pytest.mark.parametrize(("method", "path", "body"), GUARDED)
def test_viewers_and_operators_are_refused_with_403(
    client: httpx.Client,  # noqa: F811
    method: str,
    path: str,
    body: Any,
    token: str,
) -> None:
    response = _call(client, method, path, body, Authorization=f"Bearer {token}")
    assert _problem(response, 403)["detail"] == "This action requires the admin role."


def test_a_refused_change_changes_nothing(client: httpx.Client) -> None:  # noqa: F811
    client.post(
        "/_strangler/routes",
        json={"route": "GET /api/items", "mode": "new", "reason": "x"},
        headers={"Authorization": "Bearer operator-token"},
    )
    assert client.get("/api/items").headers["x-served-by"] == "legacy"


def test_health_needs_no_token(client: httpx.Client) -> None:  # noqa: F811
    response = client.get("/_strangler/health")
    assert response.json() == {"status": "ok", "store": "ok", "version": 1, "worker": os.getpid()}


def test_routes_list_every_route_with_its_sides_and_flag(client: httpx.Client) -> None:  # noqa: F811
    body = client.get("/_strangler/routes", headers=ADMIN).json()
    assert body["version"] == 1
    routes = {route["route"]: route for route in body["routes"]}
    assert routes["GET /api/items"] == {
        "route": "GET /api/items",
        "method": "GET",
        "path": "/api/items",
        "sides": ["legacy", "new"],
        "websocket": False,
        "mode": "legacy",
        "percent": 0,
        "dry_run": False,
        "updated_at": routes["GET /api/items"]["updated_at"],
        "updated_by": "proxy",
    }
    assert routes["GET /legacy-only"]["sides"] == ["legacy"]
    assert routes["WS /ws/echo"] | {} == routes["WS /ws/echo"]
    assert routes["WS /ws/echo"]["websocket"] is True
    assert routes["WS /ws/echo"]["mode"] == "new"
    order = [(route["path"], route["method"]) for route in body["routes"]]
    assert order == sorted(order)


def test_setting_a_route_flips_it_and_records_an_event(client: httpx.Client) -> None:  # noqa: F811
    body = set_mode(client, "GET /api/items", "canary", percent=25)
    assert body["route"] == "GET /api/items"
    assert (body["mode"], body["percent"], body["version"]) == ("canary", 25, 2)
    assert body["updated_by"] == "alice"
    events = client.get("/_strangler/events", headers=ADMIN).json()
    assert events["items"][0] == {
        "id": events["items"][0]["id"],
        "version": 2,
        "route": "GET /api/items",
        "from": "legacy",
        "to": "canary",
        "percent": 25,
        "actor": "alice",
        "reason": "test",
        "at": events["items"][0]["at"],
    }


def test_percent_is_kept_only_for_canary(client: httpx.Client) -> None:  # noqa: F811
    assert set_mode(client, "GET /api/items", "new", percent=40)["percent"] == 0


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        pytest.param({"route": "GET /nope", "mode": "new"}, "route", "invalid_choice", id="route"),
        pytest.param({"route": "GET /api/items", "mode": "sideways"}, "mode", "invalid_choice"),
        pytest.param(
            {"route": "GET /api/items", "mode": "canary", "percent": 150},
            "percent",
            "out_of_range",
            id="percent",
        ),
        pytest.param(
            {"route": "GET /legacy-only", "mode": "new"}, "mode", "invalid_choice", id="no-new"
        ),
        pytest.param(
            {"route": "GET /new-only", "mode": "shadow"}, "mode", "invalid_choice", id="no-legacy"
        ),
        pytest.param(
            {"route": "GET /api/items", "mode": "new", "reason": "  "},
            "reason",
            "too_short",
            id="blank-reason",
        ),
        pytest.param({"mode": "new"}, "route", "missing", id="no-route"),
    ],
)
def test_invalid_changes_are_400_problems(
    client: httpx.Client,  # noqa: F811
    body: dict[str, Any],
    field: str,
    code: str,
) -> None:
    response = client.post("/_strangler/routes", json={"reason": "r", **body}, headers=ADMIN)
    problem = _problem(response, 400)
    assert problem["type"] == "urn:resync:problem:validation"
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [(field, code)]


def test_a_missing_reason_is_a_400(client: httpx.Client) -> None:  # noqa: F811
    response = client.post(
        "/_strangler/routes", json={"route": "GET /api/items", "mode": "new"}, headers=ADMIN
    )
    assert _problem(response, 400)["errors"][0] == {
        "field": "reason",
        "code": "missing",
        "message": "Field required",
    }


def test_malformed_json_is_a_400(client: httpx.Client) -> None:  # noqa: F811
    response = client.post(
        "/_strangler/routes",
        content=b"{not json",
        headers={**ADMIN, "content-type": "application/json"},
    )
    problem = _problem(response, 400)
    assert problem["detail"] == "The request body is not valid JSON."


def test_a_stale_expected_version_is_a_409_and_changes_nothing(
    client: httpx.Client,  # noqa: F811
) -> None:
    set_mode(client, "GET /api/items", "shadow")  # version 2
    response = client.post(
        "/_strangler/routes",
        json={"route": "GET /api/items", "mode": "new", "reason": "r", "expected_version": 1},
        headers=ADMIN,
    )
    problem = _problem(response, 409)
    assert problem["detail"] == "The flag table is at version 2, not the expected 1."
    assert client.get("/api/items").headers["x-served-by"] == "legacy"
    fresh = set_mode(client, "GET /api/items", "new", expected_version=2)
    assert fresh["version"] == 3
    assert client.get("/api/items").headers["x-served-by"] == "new"


def test_bulk_sets_every_route_both_sides_serve(client: httpx.Client) -> None:  # noqa: F811
    response = client.post(
        "/_strangler/routes/bulk", json={"mode": "new", "reason": "all in"}, headers=ADMIN
    )
    assert response.json() == {"version": 2, "changed": 10}
    routes = {
        r["route"]: r for r in client.get("/_strangler/routes", headers=ADMIN).json()["routes"]
    }
    both = [r for r in routes.values() if r["sides"] == ["legacy", "new"]]
    assert {r["mode"] for r in both} == {"new"}
    assert routes["GET /legacy-only"]["mode"] == "legacy"
    assert client.get("/cookies").headers["x-app"] == "new"
    again = client.post(
        "/_strangler/routes/bulk", json={"mode": "new", "reason": "again"}, headers=ADMIN
    )
    assert again.json() == {"version": 2, "changed": 0}


def test_the_kill_switch_sends_everything_legacy_serves_back(
    client: httpx.Client,  # noqa: F811
) -> None:
    client.post(
        "/_strangler/routes/bulk",
        json={"mode": "canary", "percent": 100, "reason": "go"},
        headers=ADMIN,
    )
    assert client.get("/api/items").headers["x-app"] == "new"
    response = client.post("/_strangler/kill-switch", json={"reason": "errors"}, headers=ADMIN)
    assert response.json() == {"version": 3, "changed": 10}
    assert client.get("/api/items").headers["x-app"] == "legacy"
    routes = {
        r["route"]: r for r in client.get("/_strangler/routes", headers=ADMIN).json()["routes"]
    }
    assert routes["WS /ws/echo"]["mode"] == "new"
    assert routes["GET /new-only"]["mode"] == "new"
    assert {r["mode"] for r in routes.values() if "legacy" in r["sides"]} == {"legacy"}


def test_events_are_paged_newest_first_and_filtered_by_route(
    client: httpx.Client,  # noqa: F811
) -> None:
    for mode in ("shadow", "canary", "new"):
        set_mode(client, "GET /cookies", mode)
    page = client.get("/_strangler/events", params={"limit": 2, "offset": 1}, headers=ADMIN).json()
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 1)
    assert [item["to"] for item in page["items"]] == ["canary", "shadow"]
    only = client.get("/_strangler/events", params={"route": "GET /cookies"}, headers=ADMIN).json()
    assert only["total"] == 3
    assert {item["route"] for item in only["items"]} == {"GET /cookies"}


def test_stats_and_progress_reflect_traffic_and_flags(client: httpx.Client) -> None:  # noqa: F811
    set_mode(client, "GET /api/items", "new")
    for _ in range(3):
        client.get("/api/items")
    client.get("/status/500")
    # A request is counted when the app returns, just after the client has its answer.
    stats = _eventually(
        lambda: client.get("/_strangler/stats", headers=ADMIN).json(),
        lambda body: (
            "GET /status/{code}" in body["routes"]
            and body["routes"].get("GET /api/items", {}).get("new", {}).get("requests") == 3
        ),
    )
    assert stats["window_seconds"] == 60
    new = stats["routes"]["GET /api/items"]["new"]
    assert new["requests"] == 3 and new["error_rate"] == 0.0 and new["p95_ms"] > 0
    assert stats["routes"]["GET /status/{code}"]["legacy"]["error_rate"] == 1.0
    progress = client.get("/_strangler/progress", headers=ADMIN).json()
    routes = client.get("/_strangler/routes", headers=ADMIN).json()["routes"]
    new_only = [r for r in routes if r["sides"] == ["new"]]
    assert progress["total"] == len(routes)
    assert progress["by_mode"]["new"] == len(new_only) + 1  # plus GET /api/items
    assert progress["by_mode"]["canary"] == 0
    assert sum(progress["by_mode"].values()) == len(routes)
    # Every proxy has a shadow runner now (issue 16): nothing shadowed yet is 0 passing, not None.
    assert progress["parity"] == {"covered": 0, "passing": 0}


def test_mismatches_are_empty_before_anything_is_shadowed(client: httpx.Client) -> None:  # noqa: F811
    body = client.get("/_strangler/mismatches", headers=ADMIN).json()
    assert body == {"items": [], "total": 0, "limit": 50, "offset": 0}
    _problem(client.get("/_strangler/mismatches/1", headers=ADMIN), 404)


def test_unknown_admin_paths_are_404_problems(client: httpx.Client) -> None:  # noqa: F811
    _problem(client.get("/_strangler/nope", headers=ADMIN), 404)


def test_metrics_expose_requests_flag_version_and_store_health(
    client: httpx.Client,  # noqa: F811
) -> None:
    set_mode(client, "GET /api/items", "new")
    client.get("/api/items")
    client.get("/no/such/path")
    response = _eventually(
        lambda: client.get("/metrics"), lambda response: "unmatched" in response.text
    )
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'strangler_requests_total{route="GET /api/items",side="new",status_class="2xx"} 1.0' in text
    )
    assert (
        'strangler_requests_total{route="unmatched",side="legacy",status_class="4xx"} 1.0' in text
    )
    assert 'strangler_request_duration_seconds_count{route="GET /api/items",side="new"} 1.0' in text
    assert "strangler_flag_version 2.0" in text
    assert "strangler_flag_store_up 1.0" in text


def test_the_dashboard_page_is_served_without_a_token(client: httpx.Client) -> None:  # noqa: F811
    pytest.importorskip("proxy.admin.dashboard")
    response = client.get("/_strangler/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


def test_a_change_on_a_vanished_store_is_503_and_creates_nothing(
    client: httpx.Client,  # noqa: F811
    proxy_settings: Any,  # noqa: F811
) -> None:
    """Issue 13: a store that vanished is an outage; the admin API never makes a fresh one."""
    set_mode(client, "GET /api/items", "new")
    path = proxy_settings.flag_store_url.removeprefix("sqlite:///")
    served = client.get("/_strangler/routes", headers=ADMIN).json()
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + suffix)

    for method, url, body in [
        ("POST", "/_strangler/routes", {"route": "GET /api/items", "mode": "legacy"}),
        ("POST", "/_strangler/routes/bulk", {"mode": "legacy"}),
        ("POST", "/_strangler/kill-switch", {}),
    ]:
        response = _call(client, method, url, {"reason": "r", **body}, **ADMIN)
        problem = _problem(response, 503)
        assert "does not exist" in problem["detail"], problem
        assert "resync-strangler flags init" in problem["detail"]
        assert not os.path.exists(path)

    assert client.get("/_strangler/routes", headers=ADMIN).json() == served
    assert client.get("/api/items").headers["x-served-by"] == "new"
