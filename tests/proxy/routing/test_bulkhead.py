"""Per-route bulkheads: a saturated slow route never starves the other routes of its side.

Real proxies under a real uvicorn on loopback, over the sample apps: ``GET /hold`` keeps its
legacy thread until the test sets ``HOLD``, so "a slow backend" is a state, not a duration.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from proxy.app import StranglerProxy
from proxy.cli.commands import main
from proxy.routing.bulkhead import BulkheadConfigError, Compartment
from proxy.settings import ProxySettings
from tests.proxy.harness import make_proxy, make_settings, serve, set_mode
from tests.proxy.sample_apps import create_new_app

POOL = 8  # the default reserve keeps 4 threads from any one route: a route limit of 4
LIMIT = 4


def _wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _sample(metrics: str, name: str, **labels: str) -> float | None:
    """The value of one sample of the Prometheus text ``metrics`` (None: not exported)."""
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


@pytest.fixture
def held_proxy(tmp_path: Path) -> Iterator[StranglerProxy]:
    settings = make_settings(tmp_path, legacy_threads=POOL, bulkhead_queue=4, bulkhead_wait=0.5)
    proxy = make_proxy(settings)
    try:
        yield proxy
    finally:
        proxy.legacy.app.config["HOLD"].set()  # never leave a thread held


def test_a_saturated_slow_route_leaves_the_other_legacy_routes_answering(
    held_proxy: StranglerProxy,
) -> None:
    legacy = held_proxy.legacy.app
    hold, held = legacy.config["HOLD"], legacy.config["HELD"]
    clients = 24  # three times the pool on the slow route
    with (
        serve(held_proxy) as base_url,
        httpx.Client(base_url=base_url, timeout=60) as http,
        ThreadPoolExecutor(clients) as pool,
    ):
        slow: list[Future[httpx.Response]] = [
            pool.submit(http.get, "/hold") for _ in range(clients)
        ]
        # The route's share is taken and every request over it has had its answer...
        assert _wait_until(lambda: held["inside"] == LIMIT), held
        assert _wait_until(lambda: sum(f.done() for f in slow) == clients - LIMIT)
        # ... while the slow requests inside still hold their threads, the other legacy
        # routes are answered, every one of them.
        with ThreadPoolExecutor(POOL - LIMIT) as probes:
            answers = list(probes.map(lambda i: http.get(f"/api/items/{i}"), range(40)))
        assert [a.status_code for a in answers] == [200] * 40
        assert {a.headers["x-served-by"] for a in answers} == {"legacy"}
        assert held["inside"] == LIMIT  # the slow route still holds its share
        hold.set()
        responses = [f.result() for f in slow]
        metrics = http.get("/metrics").text

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * LIMIT + [503] * (clients - LIMIT)
    assert held["entered"] == LIMIT  # the refused requests never reached the app
    for refused in (r for r in responses if r.status_code == 503):
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["x-route"] == "GET /hold"
        assert "x-served-by" not in refused.headers  # the proxy answered, not legacy
        body = refused.json()
        assert (body["type"], body["status"]) == ("urn:resync:problem:unavailable", 503)
        assert body["request_id"] == refused.headers["x-request-id"]
        assert "GET /hold" in body["detail"] and "legacy" in body["detail"]

    labels = {"route": "GET /hold", "side": "legacy"}
    full = _sample(metrics, "strangler_bulkhead_rejected_total", **labels, reason="queue_full")
    late = _sample(metrics, "strangler_bulkhead_rejected_total", **labels, reason="wait_timeout")
    assert full is not None and late is not None
    assert (full + late, late) == (clients - LIMIT, 4)  # the queue of 4 waited, then gave up
    assert _sample(metrics, "strangler_bulkhead_limit", **labels) == LIMIT
    assert _sample(metrics, "strangler_bulkhead_in_flight", **labels) == 0
    assert _sample(metrics, "strangler_bulkhead_waiting", **labels) == 0
    requests = _sample(
        metrics, "strangler_requests_total", **labels, status_class="5xx"
    )  # the refusals are counted as answers of the proxy for that route and side
    assert requests == clients - LIMIT
    probe_labels = {"route": "GET /api/items/{item_id}", "side": "legacy"}
    assert (
        _sample(metrics, "strangler_bulkhead_rejected_total", **probe_labels, reason="queue_full")
        == 0
    )


def test_a_burst_over_the_limit_waits_and_a_load_under_it_is_never_refused(
    tmp_path: Path,
) -> None:
    """The bulkhead lets a route use the pool: over its limit, requests wait their turn."""
    settings = make_settings(tmp_path, legacy_threads=POOL, bulkhead_wait=30.0)
    proxy = make_proxy(settings)
    with (
        serve(proxy) as base_url,
        httpx.Client(base_url=base_url, timeout=60) as http,
        ThreadPoolExecutor(3 * LIMIT) as pool,
    ):
        # Under the limit: LIMIT - 1 clients on each of two routes, 60 requests each route.
        steady = list(
            pool.map(
                lambda i: http.get("/api/items" if i % 2 else f"/api/items/{i}"),
                range(120),
                chunksize=1,
            )
        )
        # A burst of three times the route's limit on one route (a queue of 2 x POOL waiting).
        burst = list(pool.map(lambda _: http.get("/sleep", params={"seconds": "0.05"}), range(36)))
        metrics = http.get("/metrics").text
    assert [r.status_code for r in steady] == [200] * 120
    assert [r.status_code for r in burst] == [200] * 36
    for route in ("GET /api/items", "GET /api/items/{item_id}", "GET /sleep"):
        labels = {"route": route, "side": "legacy"}
        assert _sample(metrics, "strangler_bulkhead_limit", **labels) == LIMIT
        for reason in ("queue_full", "wait_timeout"):
            assert (
                _sample(metrics, "strangler_bulkhead_rejected_total", **labels, reason=reason) == 0
            ), (route, reason)


def test_the_new_side_takes_the_same_limits(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, bulkhead_new_routes={"GET /hold": 1}, bulkhead_queue=0)
    new = create_new_app()
    hold, held = new.state.hold, new.state.held
    proxy = make_proxy(settings, new=new)
    try:
        with (
            serve(proxy) as base_url,
            httpx.Client(base_url=base_url, timeout=60) as http,
            ThreadPoolExecutor(1) as pool,
        ):
            set_mode(http, "GET /hold", "new")
            assert _wait_until(lambda: proxy.table.match("GET", "/hold").flag.mode.value == "new")
            first = pool.submit(http.get, "/hold")
            assert _wait_until(lambda: held["inside"] == 1)
            refused = http.get("/hold")  # the route's one place is taken, and nobody may wait
            other = http.get("/new-only")  # no limit of its own, and none by default on new
            hold.set()
            answered = first.result()
            # The client can hold the whole answer before the server's finally frees the place.
            compartment = proxy.bulkheads.compartment("new", "GET /hold")
            assert compartment is not None
            assert _wait_until(lambda: compartment.in_flight == 0)
            after = http.get("/hold")
            metrics = http.get("/metrics").text
    finally:
        hold.set()
    assert (answered.status_code, answered.headers["x-served-by"]) == (200, "new")
    assert (after.status_code, other.status_code) == (200, 200)
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["detail"].endswith("on the new side; try again shortly.")
    labels = {"route": "GET /hold", "side": "new"}
    assert _sample(metrics, "strangler_bulkhead_rejected_total", **labels, reason="queue_full") == 1
    assert _sample(metrics, "strangler_bulkhead_limit", **labels) == 1
    assert _sample(metrics, "strangler_bulkhead_limit", route="GET /new-only", side="new") is None


def test_the_bulkheads_can_be_turned_off(tmp_path: Path) -> None:
    proxy = make_proxy(make_settings(tmp_path, legacy_threads=POOL, bulkhead=False))
    assert proxy.bulkheads is None
    assert proxy.dispatcher.bulkheads is None


# Settings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("threads", "limit"),
    [(1, 1), (2, 1), (4, 2), (8, 4), (16, 12), (32, 24), (64, 48)],
)
def test_the_default_legacy_limit_keeps_a_reserve_for_the_other_routes(
    threads: int, limit: int
) -> None:
    assert ProxySettings(legacy_threads=threads).legacy_route_limit == limit


def test_limits_and_overrides_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRANGLER_LEGACY_THREADS", "32")
    monkeypatch.setenv("STRANGLER_BULKHEAD_LEGACY_RESERVE", "12")
    monkeypatch.setenv("STRANGLER_BULKHEAD_NEW_LIMIT", "200")
    monkeypatch.setenv("STRANGLER_BULKHEAD_QUEUE", "10")
    monkeypatch.setenv("STRANGLER_BULKHEAD_WAIT", "0.5")
    monkeypatch.setenv("STRANGLER_BULKHEAD_RETRY_AFTER", "3")
    monkeypatch.setenv(
        "STRANGLER_BULKHEAD_LEGACY_ROUTES", json.dumps({"GET /api/v1/status/workstations": 6})
    )
    settings = ProxySettings()
    assert settings.legacy_route_limit == 20
    assert (settings.bulkhead_new_limit, settings.bulkhead_queue_size) == (200, 10)
    assert (settings.bulkhead_wait, settings.bulkhead_retry_after) == (0.5, 3)
    assert settings.bulkhead_legacy_routes == {"GET /api/v1/status/workstations": 6}


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"STRANGLER_BULKHEAD_LEGACY_LIMIT": "40"}, "exceeds STRANGLER_LEGACY_THREADS (32)"),
        ({"STRANGLER_BULKHEAD_LEGACY_LIMIT": "0"}, "greater than or equal to 1"),
        ({"STRANGLER_BULKHEAD_LEGACY_RESERVE": "32"}, "must be below STRANGLER_LEGACY_THREADS"),
        (
            {"STRANGLER_BULKHEAD_LEGACY_LIMIT": "8", "STRANGLER_BULKHEAD_LEGACY_RESERVE": "8"},
            "not both",
        ),
        ({"STRANGLER_BULKHEAD_WAIT": "-1"}, "greater than or equal to 0"),
        ({"STRANGLER_BULKHEAD_WAIT": "soon"}, "valid number"),
        ({"STRANGLER_BULKHEAD_QUEUE": "-5"}, "greater than or equal to 0"),
        ({"STRANGLER_BULKHEAD_NEW_LIMIT": "-1"}, "greater than or equal to 0"),
        ({"STRANGLER_BULKHEAD_LEGACY_ROUTES": '{"agents": 4}'}, "is not a route key"),
        ({"STRANGLER_BULKHEAD_LEGACY_ROUTES": '{"GET /x": -1}'}, "must be 0 (no limit) or more"),
        ({"STRANGLER_BULKHEAD_LEGACY_ROUTES": '{"GET /x": 33}'}, "above STRANGLER_LEGACY"),
        ({"STRANGLER_BULKHEAD_NEW_ROUTES": '{"GET /x": "many"}'}, "valid integer"),
    ],
)
def test_bad_bulkhead_settings_fail_with_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    monkeypatch.setenv("STRANGLER_LEGACY_THREADS", "32")
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=re.escape(message)):
        ProxySettings()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("GET /x", 'is not "METHOD /path=limit"'),
        ('{"GET /x": 4', "not a JSON object of route limits"),
        ("GET /x=four", "valid integer"),
    ],
)
def test_an_unparsable_route_list_fails_with_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("STRANGLER_BULKHEAD_LEGACY_ROUTES", value)
    with pytest.raises(ValidationError, match="bulkhead_legacy_routes") as failure:
        ProxySettings()
    assert message in str(failure.value)


def test_route_limits_may_be_listed_as_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "STRANGLER_BULKHEAD_LEGACY_ROUTES", "GET /api/v1/agents=8, POST /api/v1/chat = 0,"
    )
    assert ProxySettings().bulkhead_legacy_routes == {
        "GET /api/v1/agents": 8,
        "POST /api/v1/chat": 0,
    }


def test_serve_refuses_bad_bulkhead_settings_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STRANGLER_LEGACY_THREADS", "8")
    monkeypatch.setenv("STRANGLER_BULKHEAD_LEGACY_RESERVE", "8")
    monkeypatch.setenv("STRANGLER_BULKHEAD_WAIT", "soon")
    assert main(["serve", "--port", "1"]) == 1  # refused before uvicorn starts
    error = capsys.readouterr().err
    assert error.startswith("resync-strangler: bad settings: STRANGLER_BULKHEAD_WAIT: ")
    assert "valid number" in error


def test_serve_refuses_a_limit_on_a_route_no_app_serves(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STRANGLER_BULKHEAD_LEGACY_ROUTES", "GET /api/v1/agentz=4")
    assert main(["serve", "--port", "1"]) == 1
    error = capsys.readouterr().err
    assert "STRANGLER_BULKHEAD_LEGACY_ROUTES names routes neither app serves" in error
    assert "GET /api/v1/agentz" in error


def test_an_empty_route_list_means_no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRANGLER_BULKHEAD_LEGACY_ROUTES", "")
    assert ProxySettings().bulkhead_legacy_routes == {}


def test_a_limit_for_a_route_no_app_serves_stops_the_proxy(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, bulkhead_legacy_routes={"GET /api/itemz": 2})
    with pytest.raises(BulkheadConfigError, match=re.escape("GET /api/itemz")):
        make_proxy(settings)


# The compartment alone ----------------------------------------------------------------------


async def _settle() -> None:
    """Let every ready task run up to its next wait."""
    for _ in range(20):
        await asyncio.sleep(0)


def _run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_places_pass_to_waiters_in_arrival_order() -> None:
    async def scenario() -> list[str]:
        compartment = Compartment("GET /x", "legacy", limit=1, queue=5, wait=30)
        assert compartment.try_enter()
        order: list[str] = []

        async def waiter(name: str) -> None:
            assert await compartment.enter() is None
            order.append(name)
            await asyncio.sleep(0)
            compartment.leave()

        tasks = [asyncio.create_task(waiter(name)) for name in "abc"]
        await _settle()
        assert compartment.waiting == 3
        assert not compartment.try_enter()  # a newcomer does not jump the queue
        compartment.leave()
        await asyncio.gather(*tasks)
        assert (compartment.in_flight, compartment.waiting) == (0, 0)
        return order

    assert _run(scenario()) == ["a", "b", "c"]


def test_a_full_queue_refuses_and_a_cancelled_waiter_gives_its_place_back() -> None:
    async def scenario() -> None:
        compartment = Compartment("GET /x", "legacy", limit=1, queue=1, wait=30)
        assert await compartment.enter() is None
        first = asyncio.create_task(compartment.enter())
        await _settle()
        assert compartment.waiting == 1
        assert await compartment.enter() == "queue_full"
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert compartment.waiting == 0
        compartment.leave()
        assert compartment.in_flight == 0
        assert compartment.rejected == {"queue_full": 1, "wait_timeout": 0}

    _run(scenario())


def test_a_waiter_whose_wait_runs_out_is_refused() -> None:
    async def scenario() -> None:
        compartment = Compartment("GET /x", "legacy", limit=1, queue=4, wait=0.01)
        assert compartment.try_enter()
        assert await compartment.enter() == "wait_timeout"
        assert (compartment.in_flight, compartment.waiting) == (1, 0)
        compartment.leave()
        assert await compartment.enter() is None

    _run(scenario())
