"""Faults of the shadowed path found in the redesign (issue 16), each through a real uvicorn.

- A primary that raises inside a shadowed request still gets its metrics, stats and access line,
  and the runner's reserved slot is given back.
- A request the runner will not shadow (sampled out, saturated, unsafe without dry-run) is
  decided before its body is buffered or its answer teed: nothing is copied.
- A proxy built without a shadow runner still shadows: it builds one from its settings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from flask import Flask

import proxy.routing.dispatch as dispatch
from proxy.shadow.mismatches import MismatchStore
from proxy.shadow.runner import ShadowRunner
from proxy.telemetry.metrics import ProxyMetrics
from tests.proxy.harness import make_proxy, make_settings, serve, set_mode


def _wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    return condition()


def _crashing_apps() -> tuple[Flask, FastAPI]:
    legacy = Flask("crash")

    @legacy.get("/api/crash")
    def legacy_crash() -> Any:
        return {"side": "legacy"}

    new = FastAPI()

    @new.get("/api/crash")
    async def new_crash() -> dict[str, str]:
        raise RuntimeError("the new side crashed")

    return legacy, new


def _requests_counted(metrics: ProxyMetrics, route: str) -> float:
    total = 0.0
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == "strangler_requests_total" and sample.labels.get("route") == route:
                total += sample.value
    return total


def test_a_primary_that_raises_in_a_shadowed_request_is_still_counted_and_frees_its_slot(
    tmp_path: Path,
) -> None:
    legacy, new = _crashing_apps()
    metrics = ProxyMetrics()
    runner = ShadowRunner(metrics=metrics, mismatch_store=MismatchStore(limit=10))
    proxy = make_proxy(
        make_settings(tmp_path), legacy=legacy, new=new, shadow_runner=runner, metrics=metrics
    )
    with serve(proxy) as url, httpx.Client(base_url=url, timeout=10) as client:
        set_mode(client, "GET /api/crash", "shadow-new")  # the new side answers, and crashes
        for _ in range(3):
            # A connection of its own each time: the server closes one whose app raised.
            with httpx.Client(base_url=url, timeout=10) as fresh:
                assert fresh.get("/api/crash").status_code == 500
        counted = _wait_for(lambda: _requests_counted(metrics, "GET /api/crash") == 3)
        counted = _requests_counted(metrics, "GET /api/crash")
        stats = proxy.stats.snapshot().get("GET /api/crash", {})
    assert counted == 3
    assert stats, "the rolling stats saw the crashed requests"
    assert runner.inflight == 0


@pytest.mark.parametrize(
    ("runner_options", "outcome"),
    [
        pytest.param({"sample_rate": 0.0}, "sampled_out", id="sampled-out"),
        pytest.param({"max_concurrency": 0}, "dropped", id="saturated"),
    ],
)
def test_a_request_the_runner_will_not_shadow_is_never_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner_options: dict[str, Any], outcome: str
) -> None:
    buffered: list[int] = []
    real_buffer = dispatch._buffer_body

    async def counting_buffer(receive: Any, limit: int) -> Any:
        buffered.append(limit)
        return await real_buffer(receive, limit)

    monkeypatch.setattr(dispatch, "_buffer_body", counting_buffer)
    metrics = ProxyMetrics()
    runner = ShadowRunner(metrics=metrics, mismatch_store=MismatchStore(limit=10), **runner_options)
    proxy = make_proxy(make_settings(tmp_path), shadow_runner=runner, metrics=metrics)
    with serve(proxy) as url, httpx.Client(base_url=url, timeout=10) as client:
        set_mode(client, "GET /api/items", "shadow")
        for _ in range(5):
            response = client.get("/api/items")
            assert response.status_code == 200
            assert response.headers["x-app"] == "legacy"
    assert runner.counts[outcome] == 5
    assert buffered == []  # no request body buffered, hence no tee either


def test_an_admitted_request_is_copied_and_shadowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control for the test above: the same counter sees an admitted request's copy."""
    buffered: list[int] = []
    real_buffer = dispatch._buffer_body

    async def counting_buffer(receive: Any, limit: int) -> Any:
        buffered.append(limit)
        return await real_buffer(receive, limit)

    monkeypatch.setattr(dispatch, "_buffer_body", counting_buffer)
    metrics = ProxyMetrics()
    runner = ShadowRunner(metrics=metrics, mismatch_store=MismatchStore(limit=10))
    proxy = make_proxy(make_settings(tmp_path), shadow_runner=runner, metrics=metrics)
    with serve(proxy) as url, httpx.Client(base_url=url, timeout=10) as client:
        set_mode(client, "GET /api/items", "shadow")
        assert client.get("/api/items").status_code == 200
        assert _wait_for(lambda: sum(runner.counts[k] for k in ("match", "mismatch", "error")))
    assert len(buffered) == 1
    assert runner.inflight == 0


def test_a_proxy_built_without_a_shadow_runner_still_runs_the_candidate(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, mismatch_db=tmp_path / "mismatches.db")
    proxy = make_proxy(settings)
    assert isinstance(proxy.shadow_runner, ShadowRunner)
    with serve(proxy) as url, httpx.Client(base_url=url, timeout=10) as client:
        set_mode(client, "GET /api/items", "shadow")
        assert client.get("/api/items").status_code == 200
        runner = proxy.shadow_runner
        assert _wait_for(lambda: sum(runner.counts[k] for k in ("match", "mismatch", "error")))
