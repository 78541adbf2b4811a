"""Dispatch through a real uvicorn: routing by flag, and full transparency on both sides."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from flask import Flask, Response
from websockets.sync.client import connect as websocket_connect

from proxy.app import StranglerProxy
from proxy.shadow.mismatches import MismatchStore
from proxy.shadow.runner import ShadowJob, ShadowRunner
from proxy.telemetry.metrics import ProxyMetrics
from tests.proxy.harness import make_proxy, make_settings, serve, set_mode
from tests.proxy.sample_apps import ADMIN

SIDES = [pytest.param("legacy", id="legacy"), pytest.param("new", id="new")]
DRY_RUN_KEY = "test-dry-run-key"


class RecordingRunner(ShadowRunner):
    """The real shadow runner, keeping the jobs it was given for inspection."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.jobs: list[ShadowJob] = []

    def submit(self, job: ShadowJob, **kwargs: Any) -> bool:
        self.jobs.append(job)
        return super().submit(job, **kwargs)


def _wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    return condition()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> StranglerProxy:
    metrics = ProxyMetrics()
    runner = RecordingRunner(
        metrics=metrics, mismatch_store=MismatchStore(limit=100), dry_run_key=DRY_RUN_KEY
    )
    settings = make_settings(tmp_path_factory.mktemp("dispatch"), shadow_body_limit=64 * 1024)
    return make_proxy(settings, shadow_runner=runner, metrics=metrics)


@pytest.fixture(scope="module")
def base_url(proxy: StranglerProxy) -> Iterator[str]:
    with serve(proxy) as url:
        yield url


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        yield client


def _last_job(runner: RecordingRunner, route: str) -> ShadowJob:
    """The latest job for ``route`` (the runner gets it just after the client got its answer)."""
    jobs = _wait_for(lambda: [job for job in runner.jobs if job.route == route])
    assert jobs, f"no shadow job for {route}"
    return jobs[-1]


def _shadowed_marker(http: httpx.Client, runner: RecordingRunner) -> None:
    """Make one shadowed request and wait for its job: earlier jobs would have arrived first."""
    set_mode(http, "GET /cookies", "shadow")
    http.get("/cookies")
    _last_job(runner, "GET /cookies")
    set_mode(http, "GET /cookies", "legacy")


def _route_to(http: httpx.Client, side: str, *routes: str) -> None:
    for route in routes:
        set_mode(http, route, side)


@pytest.mark.parametrize("side", SIDES)
def test_query_strings_reach_the_app_unchanged(http: httpx.Client, side: str) -> None:
    _route_to(http, side, "GET /echo")
    response = http.get("/echo?a=1&a=2&b=%20x%2Fy&empty=")
    assert response.headers["x-app"] == side
    assert response.json()["query"] == "a=1&a=2&b=%20x%2Fy&empty="


@pytest.mark.parametrize("side", SIDES)
def test_request_bodies_reach_the_app_unchanged(http: httpx.Client, side: str) -> None:
    _route_to(http, side, "POST /echo")
    body = ("é" * 300_000).encode()  # 600 KB, several ASGI messages
    response = http.post("/echo", content=body, headers={"content-type": "text/plain"})
    assert response.headers["x-app"] == side
    assert response.json()["body"].encode() == body


@pytest.mark.parametrize("side", SIDES)
def test_repeated_response_headers_and_cookies_survive(http: httpx.Client, side: str) -> None:
    _route_to(http, side, "GET /cookies")
    response = http.get("/cookies")
    assert response.headers["x-app"] == side
    cookies = response.headers.get_list("set-cookie")
    assert len(cookies) == 2
    assert cookies[0].startswith("a=1")
    assert cookies[1].startswith("b=2") and "HttpOnly" in cookies[1]
    assert response.headers.get_list("x-multi") == ["one", "two"]


def test_status_codes_pass_through(http: httpx.Client) -> None:
    for code in (201, 204, 404, 418, 503):
        response = http.get(f"/status/{code}")
        assert response.status_code == code


@pytest.mark.parametrize("side", SIDES)
def test_streamed_responses_arrive_chunk_by_chunk_and_complete(
    http: httpx.Client, side: str
) -> None:
    _route_to(http, side, "GET /stream")
    expected = b"".join(f"chunk-{i}\n".encode() for i in range(200))
    with http.stream("GET", "/stream?chunks=200") as response:
        assert response.headers["x-app"] == side
        assert "content-length" not in response.headers  # really streamed (chunked)
        body = b"".join(response.iter_raw())
    assert body == expected


@pytest.mark.parametrize("side", SIDES)
def test_multipart_uploads_reach_the_app_intact(http: httpx.Client, side: str) -> None:
    _route_to(http, side, "POST /upload")
    payload = bytes(range(256)) * 8000  # 2 MB of every byte value
    response = http.post(
        "/upload",
        files={"file": ("data.bin", payload, "application/octet-stream")},
        data={"note": "hello"},
    )
    assert response.headers["x-app"] == side
    assert response.json() == {
        "filename": "data.bin",
        "size": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "field": "hello",
    }


@pytest.mark.parametrize("side", SIDES)
def test_the_proxy_gives_each_request_an_id_the_app_sees(http: httpx.Client, side: str) -> None:
    _route_to(http, side, "GET /echo")
    generated = http.get("/echo").json()["request_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert http.get("/echo", headers={"X-Request-ID": "client.id-1"}).json()["request_id"] == (
        "client.id-1"
    )
    replaced = http.get("/echo", headers={"X-Request-ID": "bad id!"}).json()["request_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", replaced)


@pytest.mark.parametrize("side", SIDES)
def test_a_client_cannot_send_the_dry_run_header(http: httpx.Client, side: str) -> None:
    _route_to(http, side, "POST /echo")
    response = http.post("/echo", content=b"x", headers={"X-Resync-Dry-Run": DRY_RUN_KEY})
    assert response.json()["dry_run"] is None


def test_served_by_and_route_headers_name_the_side_and_route(http: httpx.Client) -> None:
    _route_to(http, "new", "GET /api/items/{item_id}")
    response = http.get("/api/items/3")
    assert response.json() == {"id": 3, "side": "new"}
    assert response.headers["x-served-by"] == "new"
    assert response.headers["x-route"] == "GET /api/items/{item_id}"
    _route_to(http, "legacy", "GET /api/items/{item_id}")
    response = http.get("/api/items/3")
    assert response.json() == {"id": 3, "side": "legacy"}
    assert response.headers["x-served-by"] == "legacy"


def test_head_follows_the_get_decision(http: httpx.Client) -> None:
    _route_to(http, "legacy", "GET /api/items/{item_id}")
    response = http.head("/api/items/3")
    assert (response.status_code, response.headers["x-app"]) == (200, "legacy")
    assert response.content == b""
    _route_to(http, "new", "GET /api/items/{item_id}")
    response = http.head("/api/items/3")
    # The sample FastAPI app declares GET only, so it refuses HEAD; what matters is who answers.
    assert response.headers["x-app"] == "new"
    assert response.headers["x-route"] == "GET /api/items/{item_id}"


def test_unknown_paths_get_the_legacy_404(http: httpx.Client) -> None:
    response = http.get("/no/such/path")
    assert response.status_code == 404
    assert response.headers["x-app"] == "legacy"
    assert response.headers["x-served-by"] == "legacy"
    assert "x-route" not in response.headers


def test_routes_only_one_side_has_go_to_that_side(http: httpx.Client) -> None:
    assert http.get("/legacy-only").headers["x-app"] == "legacy"
    assert http.get("/new-only").headers["x-app"] == "new"


def test_websockets_go_to_the_side_that_serves_them(base_url: str) -> None:
    url = base_url.replace("http://", "ws://") + "/ws/echo"
    with websocket_connect(url, open_timeout=10) as socket:
        socket.send("hello")
        assert socket.recv(timeout=10) == "new:hello"
        assert socket.response is not None
        assert socket.response.headers["x-served-by"] == "new"
        assert socket.response.headers["x-route"] == "WS /ws/echo"


def test_the_new_apps_lifespan_runs_with_the_proxy(http: httpx.Client) -> None:
    body = http.get("/lifespan").json()
    assert body == {"events": ["startup"], "resource": "opened-by-lifespan"}


def _token(sub: str) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256'})}.{part({'sub': sub})}.c2ln"


def test_canary_users_stay_on_their_side(http: httpx.Client) -> None:
    set_mode(http, "GET /api/items", "canary", percent=50)
    sides: dict[str, str] = {}
    for attempt in range(3):
        for i in range(30):
            headers = {"Authorization": f"Bearer {_token(f'user-{i}')}"}
            side = http.get("/api/items", headers=headers).headers["x-app"]
            assert sides.setdefault(f"user-{i}", side) == side, attempt
    assert set(sides.values()) == {"legacy", "new"}
    set_mode(http, "GET /api/items", "legacy")


def test_shadow_answers_from_legacy_and_records_the_new_sides_mismatch(
    http: httpx.Client, proxy: StranglerProxy
) -> None:
    runner: RecordingRunner = proxy.shadow_runner
    runner.jobs.clear()
    set_mode(http, "GET /api/items/{item_id}", "shadow")
    response = http.get("/api/items/8?x=1", headers={"X-Request-ID": "shadow-1"})
    assert response.json() == {"id": 8, "side": "legacy"}
    assert response.headers["x-served-by"] == "legacy"
    job = _last_job(runner, "GET /api/items/{item_id}")
    assert (job.route, job.candidate_side, job.dry_run) == (
        "GET /api/items/{item_id}",
        "new",
        False,
    )
    assert job.primary.status == 200 and job.primary.body == response.content
    assert not job.primary.truncated
    assert (b"x-request-id", b"shadow-1") in job.scope["headers"]
    assert job.primary_app is proxy.dispatcher.apps["legacy"]  # a safe method: noise learning
    assert all(name != b"x-served-by" for name, _ in job.primary.headers)

    def recorded() -> list[dict[str, Any]]:
        listing = http.get(
            "/_strangler/mismatches", params={"route": "GET /api/items/{item_id}"}, headers=ADMIN
        ).json()
        return list(listing["items"])

    items = _wait_for(recorded)
    assert items and items[0]["route"] == "GET /api/items/{item_id}"
    assert "side" in items[0]["diff"]
    metrics = http.get("/metrics").text
    assert 'strangler_shadow_total{result="mismatch",route="GET /api/items/{item_id}"}' in metrics
    set_mode(http, "GET /api/items/{item_id}", "legacy")


def test_shadow_new_answers_from_new_and_compares_legacy(
    http: httpx.Client, proxy: StranglerProxy
) -> None:
    runner: RecordingRunner = proxy.shadow_runner
    runner.jobs.clear()
    set_mode(http, "GET /echo", "shadow-new")
    response = http.get("/echo?q=1")
    assert response.headers["x-app"] == "new"
    job = _last_job(runner, "GET /echo")
    assert (job.candidate_side, job.primary_side) == ("legacy", "new")
    assert job.primary_app is proxy.dispatcher.apps["new"]
    set_mode(http, "GET /echo", "legacy")


def test_unsafe_methods_are_shadowed_only_with_dry_run(
    http: httpx.Client, proxy: StranglerProxy
) -> None:
    runner: RecordingRunner = proxy.shadow_runner
    runner.jobs.clear()
    set_mode(http, "POST /echo", "shadow", dry_run=False)
    assert http.post("/echo", content=b"payload").headers["x-app"] == "legacy"
    _shadowed_marker(http, runner)
    assert [job.route for job in runner.jobs] == ["GET /cookies"]
    set_mode(http, "POST /echo", "shadow", dry_run=True)
    response = http.post("/echo", content=b"payload")
    assert response.json()["body"] == "payload"
    job = _last_job(runner, "POST /echo")
    assert (job.dry_run, job.body) == (True, b"payload")
    assert job.primary_app is None  # an unsafe request is never sent to the primary twice
    set_mode(http, "POST /echo", "legacy", dry_run=False)


def _noisy_apps() -> tuple[Flask, FastAPI]:
    """Two apps whose one route answers a fresh nonce on every call (noise, not a bug)."""
    legacy = Flask("noisy")

    @legacy.get("/api/token")
    def legacy_token() -> Any:
        body = {"kind": "session", "nonce": uuid.uuid4().hex}  # written as compact as FastAPI's
        return Response(json.dumps(body, separators=(",", ":")), content_type="application/json")

    new = FastAPI()

    @new.get("/api/token")
    async def new_token() -> dict[str, str]:
        return {"kind": "session", "nonce": uuid.uuid4().hex}

    return legacy, new


@pytest.mark.parametrize(
    ("learn_noise", "result"),
    [
        pytest.param(False, "mismatch", id="without-learning"),
        pytest.param(True, "match", id="learning"),
    ],
)
def test_noise_learning_asks_the_primary_again_and_ignores_what_it_varies_itself(
    tmp_path: Path, learn_noise: bool, result: str
) -> None:
    legacy, new = _noisy_apps()
    runner = RecordingRunner(mismatch_store=MismatchStore(limit=10), learn_noise=learn_noise)
    noisy = make_proxy(make_settings(tmp_path), legacy=legacy, new=new, shadow_runner=runner)
    with serve(noisy) as url, httpx.Client(base_url=url, timeout=10) as client:
        set_mode(client, "GET /api/token", "shadow")
        assert client.get("/api/token").json()["kind"] == "session"
        assert _wait_for(lambda: runner.counts["match"] + runner.counts["mismatch"]) == 1
    assert runner.counts[result] == 1


def test_shadowed_bodies_over_the_limit_are_served_but_not_shadowed(
    http: httpx.Client, proxy: StranglerProxy
) -> None:
    runner: RecordingRunner = proxy.shadow_runner
    runner.jobs.clear()
    set_mode(http, "POST /echo", "shadow", dry_run=True)
    body = b"z" * (200 * 1024)  # over the 64 KiB shadow limit
    response = http.post("/echo", content=body)
    assert response.json()["body"].encode() == body
    _shadowed_marker(http, runner)
    assert [job.route for job in runner.jobs] == ["GET /cookies"]
    set_mode(http, "POST /echo", "legacy", dry_run=False)


def test_served_by_headers_can_be_turned_off(tmp_path: Path) -> None:
    quiet = make_proxy(make_settings(tmp_path, served_by_headers=False))
    with serve(quiet) as url, httpx.Client(base_url=url) as client:
        response = client.get("/api/items")
    assert response.headers["x-app"] == "legacy"
    assert "x-served-by" not in response.headers
    assert "x-route" not in response.headers
