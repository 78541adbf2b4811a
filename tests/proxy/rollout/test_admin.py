"""Plans through the admin API on a real uvicorn, the webhook on a real receiver, and overrides."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.proxy.harness import ADMIN, make_proxy, make_settings, serve

ROUTE = "GET /api/items"
OPERATOR = {"Authorization": "Bearer operator-token"}
VIEWER = {"Authorization": "Bearer viewer-token"}


def _poll(condition: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


class Receiver:
    """A webhook receiver that refuses its first delivery with a 503 (to be retried)."""

    def __init__(self) -> None:
        self.attempts = 0
        self.events: list[dict[str, Any]] = []

    async def hook(self, request: Request) -> JSONResponse:
        self.attempts += 1
        if self.attempts == 1:
            return JSONResponse({"busy": True}, status_code=503)
        self.events.append(json.loads(await request.body()))
        return JSONResponse({"ok": True})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    hook = Receiver()
    with serve(hook.app()) as url:
        yield hook, f"{url}/hook"


def _mode(http: httpx.Client) -> tuple[str, int]:
    routes = http.get("/_strangler/routes", headers=ADMIN).json()["routes"]
    (state,) = [r for r in routes if r["route"] == ROUTE]
    return state["mode"], state["percent"]


def _act(http: httpx.Client, action: str, **extra: Any) -> httpx.Response:
    body = {"route": ROUTE, "reason": f"test {action}", **extra}
    return http.post(f"/_strangler/plans/{action}", json=body, headers=ADMIN)


def test_plans_are_set_and_operated_through_the_admin_api_and_reported_to_the_webhook(
    tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    hook, hook_url = receiver
    settings = make_settings(
        tmp_path, autopilot_interval=0.1, autopilot_webhook_url=hook_url, autopilot_lease_ttl=2
    )
    proxy = make_proxy(settings)
    proxy.rollout.notifier.backoff = 0.05  # type: ignore[union-attr]
    with serve(proxy) as url, httpx.Client(base_url=url, timeout=10) as http:
        refused = http.post("/_strangler/plans", json={"route": ROUTE, "steps": "x", "reason": "r"})
        assert refused.status_code == 401
        bad = http.post(
            "/_strangler/plans",
            json={"route": ROUTE, "steps": "canary 5m -> new", "reason": "r"},
            headers=ADMIN,
        )
        assert bad.status_code == 400
        assert bad.headers["content-type"] == "application/problem+json"
        assert bad.json()["errors"][0]["field"] == "steps"
        one_side = http.post(
            "/_strangler/plans",
            json={"route": "GET /legacy-only", "steps": "50% -> new", "reason": "r"},
            headers=ADMIN,
        )
        assert one_side.status_code == 400
        created = http.post(
            "/_strangler/plans",
            json={
                "route": ROUTE,
                "steps": "canary 40% 1h 1000req -> new",
                "reason": "move items",
                "gates": {"max_p95_ratio": 2},
            },
            headers=ADMIN,
        )
        assert created.status_code == 201, created.text
        assert created.json()["plan"]["gates"]["max_p95_ratio"] == 2
        assert _poll(lambda: _mode(http) == ("canary", 40))
        listed = http.get("/_strangler/plans", headers=ADMIN).json()
        assert listed["lease"]["holder"] == listed["worker"]
        assert listed["items"][0]["current"] == "canary 40%"

        assert _act(http, "pause").json()["status"] == "paused"
        again = _act(http, "pause")
        assert again.status_code == 409 and "not running" in again.json()["detail"]
        assert _act(http, "resume").json()["status"] == "running"

        def steps_recorded() -> int:
            history = http.get("/_strangler/plans/history", headers=ADMIN).json()["items"]
            return sum(h["kind"] == "step" for h in history)

        assert _poll(lambda: steps_recorded() == 2)  # a resumed step runs again, fresh window
        assert _act(http, "promote", step=7).status_code == 400
        assert _act(http, "promote").json()["current"] == "new"
        assert _poll(
            lambda: (
                http.get("/_strangler/plans", headers=ADMIN).json()["items"][0]["status"] == "done"
            )
        )
        assert _mode(http) == ("new", 0)
        aborted = _act(http, "abort")
        assert aborted.json()["status"] == "aborted"
        assert _mode(http) == ("legacy", 0)
        assert _act(http, "frobnicate").status_code == 404
        unknown = http.post(
            "/_strangler/plans/pause",
            json={"route": "GET /api/items/{item_id}", "reason": "r"},
            headers=ADMIN,
        )
        assert unknown.status_code == 404
        assert _act(http, "delete").json() == {"route": ROUTE, "deleted": True}
        history = http.get("/_strangler/plans/history", headers=ADMIN).json()["items"]
        kinds = [h["kind"] for h in reversed(history)]
        # An operator's action and the autopilot's answer to it (promote, then done) are
        # recorded by two writers: their order within the pair is not fixed.
        assert sorted(kinds) == sorted(
            ["plan", "step", "pause", "resume", "step", "promote", "done", "abort", "delete"]
        )
        assert (kinds[0], kinds[-1]) == ("plan", "delete")
        events = http.get("/_strangler/events", params={"route": ROUTE}, headers=ADMIN).json()
        actors = [(e["to"], e["actor"]) for e in reversed(events["items"])][1:]
        assert actors == [("canary", "autopilot"), ("new", "autopilot"), ("legacy", "alice")]
        assert _poll(lambda: len(hook.events) >= len(kinds))
    assert sorted(e["kind"] for e in hook.events) == sorted(kinds)
    assert hook.attempts == len(kinds) + 1  # the refused first delivery was retried
    assert all("sent_at" in e and e["route"] == ROUTE for e in hook.events)


def test_a_webhook_that_never_answers_does_not_hold_the_queue_past_its_bound() -> None:
    import asyncio

    from proxy.rollout.notify import WebhookNotifier

    results: list[str] = []

    async def run() -> None:
        notifier = WebhookNotifier(
            "http://127.0.0.1:9/none", queue_size=2, retries=0, on_result=results.append
        )
        # Not started: nothing drains the queue, so the third event is dropped at once.
        assert notifier.notify({"kind": "step"}) and notifier.notify({"kind": "step"})
        assert notifier.notify({"kind": "step"}) is False
        await notifier.start()
        await notifier.stop(grace=5)

    asyncio.run(run())
    assert results == ["dropped", "failed", "failed"]


def test_a_tester_with_the_role_picks_a_side_others_cannot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(
        tmp_path,
        override_header="X-Strangler-Side",
        override_cookie="strangler_side",
        override_roles="operator",
        access_log=True,
    )
    with serve(make_proxy(settings)) as url, httpx.Client(base_url=url, timeout=10) as http:
        asked = {"X-Strangler-Side": "new"}
        assert http.get("/api/items", headers={**asked, **OPERATOR}).headers["x-served-by"] == "new"
        cookie = {"Cookie": "strangler_side=new", **OPERATOR}
        assert http.get("/api/items", headers=cookie).headers["x-served-by"] == "new"
        assert http.get("/api/items", headers={**asked, **VIEWER}).headers["x-served-by"] == (
            "legacy"
        )
        assert http.get("/api/items", headers=asked).headers["x-served-by"] == "legacy"
        # a side that does not serve the route is not forced
        only = http.get("/legacy-only", headers={**asked, **OPERATOR})
        assert only.headers["x-served-by"] == "legacy"
        bad = http.get("/api/items", headers={"X-Strangler-Side": "both", **OPERATOR})
        assert bad.status_code == 400
        assert bad.headers["content-type"] == "application/problem+json"
        metrics = http.get("/metrics").text
        assert 'strangler_side_overrides_total{route="GET /api/items",side="new"} 2.0' in metrics
        time.sleep(0.7)  # the access log is flushed every half second
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"request"' in line
    ]
    forced = [line for line in lines if line.get("side_override")]
    assert len(forced) == 2 and all(line["side"] == "new" for line in forced)


def test_without_configuration_the_override_header_does_nothing(tmp_path: Path) -> None:
    with serve(make_proxy(make_settings(tmp_path))) as url, httpx.Client(base_url=url) as http:
        response = http.get("/api/items", headers={"X-Strangler-Side": "new", **ADMIN})
        assert response.headers["x-served-by"] == "legacy"


def test_plans_in_the_flag_file_are_imported_at_start_and_a_broken_one_stops_it(
    tmp_path: Path,
) -> None:
    import asyncio

    from proxy.errors import FlagFileError

    flag_file = tmp_path / "flags.toml"
    flag_file.write_text(
        '[routes."GET /api/items"]\nmode = "legacy"\n\n'
        '[plans."GET /api/items"]\nsteps = "canary 10% 1h -> new"\n'
    )
    proxy = make_proxy(make_settings(tmp_path, autopilot_interval=0.1))
    with serve(proxy) as url, httpx.Client(base_url=url, timeout=10) as http:
        items = http.get("/_strangler/plans", headers=ADMIN).json()["items"]
        assert [(i["route"], i["current"]) for i in items] == [(ROUTE, "canary 10%")]
        assert _poll(lambda: _mode(http) == ("canary", 10))
    flag_file.write_text('[plans."GET /api/items"]\nsteps = "sideways"\n')
    (tmp_path / "again").mkdir()
    broken = make_proxy(make_settings(tmp_path / "again", flag_file=flag_file))
    with pytest.raises(FlagFileError, match="sideways"):
        asyncio.run(broken.startup())
