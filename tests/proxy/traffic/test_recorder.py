"""Capture through a real proxy (sample apps, real uvicorn, real SQLite store).

The client's answer never depends on capture; sampled exchanges reach the store redacted and with
the caller's role; a body over the route's bound, a full queue and a failing store are counted,
not raised.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.app import StranglerProxy
from proxy.telemetry.metrics import ProxyMetrics
from proxy.traffic.errors import CaptureStoreError
from proxy.traffic.policy import CapturePolicy
from proxy.traffic.recorder import CachedRoles, TrafficRecorder
from proxy.traffic.store import SQLiteCaptureStore
from tests.proxy.harness import make_proxy, make_settings, serve
from tests.proxy.sample_apps import TOKENS

POLICY = CapturePolicy.from_mapping(
    {
        "routes": {
            "POST /echo": {"sample_rate": 1.0, "body_limit": 256},
            "GET /echo": {"sample_rate": 1.0, "body_limit": 64},
        }
    }
)


def role_of(token: str) -> str | None:
    principal = TOKENS.get(token)
    return principal.role if principal else None


class GatedStore(SQLiteCaptureStore):
    """A real SQLite store whose writes wait for a gate (to hold the writer busy) or fail."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = threading.Event()
        self.gate.set()
        self.fail = False

    def add_many(self, records: Sequence[dict[str, Any]]) -> list[int]:
        self.gate.wait(10)
        if self.fail:
            raise CaptureStoreError("the disk is full")
        return super().add_many(records)


def _wait(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
    return condition()


@pytest.fixture
def captured(tmp_path: Path) -> Iterator[tuple[str, TrafficRecorder, GatedStore, StranglerProxy]]:
    metrics = ProxyMetrics()
    store = GatedStore(tmp_path / "capture.db")
    recorder = TrafficRecorder(
        POLICY, store, queue_size=4, batch_size=2, registry=metrics.registry, role_of=role_of
    )
    proxy = make_proxy(make_settings(tmp_path), metrics=metrics, traffic_recorder=recorder)
    with serve(proxy) as url:
        yield url, recorder, store, proxy


def test_a_sampled_exchange_is_stored_redacted_with_the_callers_role(captured: Any) -> None:
    url, recorder, store, _ = captured
    answer = httpx.post(
        f"{url}/echo?token=query-secret-1&x=1",
        json={"password": "body-secret-1", "n": 1},
        headers={"Authorization": "Bearer operator-token", "Cookie": "sid=cookie-secret-1"},
    )
    assert answer.status_code == 200
    assert "body-secret-1" in answer.text  # the client's answer is the app's own

    (stored,) = _wait(lambda: store.list())
    text = str(stored)
    assert stored["route"] == "POST /echo" and stored["side"] == "legacy"
    assert stored["auth"] == {"kind": "role", "role": "operator"}
    assert stored["response"]["status"] == 200
    for secret in ("query-secret-1", "body-secret-1", "cookie-secret-1", "operator-token"):
        assert secret not in text
    assert "x=1" in stored["request"]["query"]
    assert recorder.counts["stored"] == 1


def test_routes_the_policy_does_not_name_are_not_captured(captured: Any) -> None:
    url, recorder, store, _ = captured
    assert httpx.get(f"{url}/api/items").status_code == 200
    httpx.get(f"{url}/echo")

    _wait(lambda: recorder.counts["stored"] == 1)
    assert [r["route"] for r in store.list()] == ["GET /echo"]


def test_a_body_over_the_route_bound_is_served_whole_and_counted_oversize(captured: Any) -> None:
    url, recorder, store, proxy = captured
    big = "y" * 1000

    answer = httpx.post(f"{url}/echo", content=big, headers={"Content-Type": "text/plain"})

    assert answer.status_code == 200 and answer.json()["body"] == big
    assert recorder.counts["oversize"] == 1
    assert 'result="oversize"' in proxy.metrics.exposition().decode()
    time.sleep(0.2)
    assert store.count() == 0


def test_a_long_answer_is_kept_cut_at_the_bound(captured: Any) -> None:
    url, _, store, _ = captured
    answer = httpx.get(f"{url}/echo", params={"q": "z" * 200})

    (stored,) = _wait(lambda: store.list())
    assert len(answer.content) > 64
    assert stored["response"]["body"]["truncated"] is True
    assert stored["response"]["body"]["size"] <= 64


def test_a_full_queue_drops_and_counts_and_never_delays_the_client(captured: Any) -> None:
    url, recorder, store, proxy = captured
    store.gate.clear()  # the writer blocks on its first batch; the queue (4) fills up
    with httpx.Client(base_url=url) as client:
        answers = [client.get("/echo", params={"n": n}) for n in range(12)]
    assert all(a.status_code == 200 for a in answers)

    assert recorder.counts["dropped"] >= 12 - 4 - 2
    assert 'strangler_capture_total{result="dropped",route="GET /echo"}' in (
        proxy.metrics.exposition().decode()
    )
    store.gate.set()
    _wait(lambda: recorder.counts["stored"] + recorder.counts["dropped"] == 12)


def test_a_failing_store_is_counted_as_error_and_requests_still_answer(captured: Any) -> None:
    url, recorder, store, _ = captured
    store.fail = True

    assert httpx.get(f"{url}/echo").status_code == 200

    _wait(lambda: recorder.counts["error"] == 1)


def test_a_sample_rate_below_one_keeps_that_share(tmp_path: Path) -> None:
    draws = iter([0.1, 0.9, 0.2, 0.8])
    recorder = TrafficRecorder(
        CapturePolicy.from_mapping({"defaults": {"sample_rate": 0.5}}),
        SQLiteCaptureStore(tmp_path / "c.db"),
        rng=lambda: next(draws),
    )

    picked = [recorder.sample("GET /a") is not None for _ in range(4)]

    assert picked == [True, False, True, False]
    recorder.close()


def test_roles_are_verified_once_per_token_for_a_while() -> None:
    calls: list[str] = []

    def verify(token: str) -> str | None:
        calls.append(token)
        return "viewer"

    roles = CachedRoles(verify, ttl=60)

    assert [roles("t1"), roles("t1"), roles("t2")] == ["viewer", "viewer", "viewer"]
    assert calls == ["t1", "t2"]


def test_shutdown_writes_what_is_queued(tmp_path: Path) -> None:
    store = SQLiteCaptureStore(tmp_path / "c.db")
    recorder = TrafficRecorder(POLICY, store, role_of=role_of)
    proxy = make_proxy(make_settings(tmp_path), traffic_recorder=recorder)
    with serve(proxy) as url:
        for n in range(20):
            httpx.get(f"{url}/echo", params={"n": n})

    assert SQLiteCaptureStore(tmp_path / "c.db").count() == 20
