"""The legacy bridge frees its worker threads when clients abandon streamed responses."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from proxy.app import StranglerProxy
from proxy.bridges.wsgi import LegacyWSGIApp
from tests.proxy.harness import make_proxy, make_settings, serve
from tests.proxy.sample_apps import create_legacy_app

POOL = 4


def _wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _open_stream_and_leave(base_url: str, path: str) -> None:
    """Start a streamed GET, read until the first chunk arrives, then drop the connection."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
        received = b""
        while b"chunk-0" not in received:
            data = sock.recv(65536)
            assert data, "the server closed the stream before the first chunk"
            received += data


@pytest.fixture
def proxy_with_pool(tmp_path: Path) -> StranglerProxy:
    # The bulkheads off: these tests fill the whole pool from one route on purpose (the
    # bulkheads keep a reserve from any one route; tests/proxy/routing/test_bulkhead.py).
    settings = make_settings(tmp_path, legacy_threads=POOL, bulkhead=False)
    return make_proxy(settings)


def test_abandoned_legacy_streams_release_every_pool_thread(
    proxy_with_pool: StranglerProxy,
) -> None:
    legacy = proxy_with_pool.legacy.app
    streams = legacy.config["STREAMS"]
    abandoned = POOL * 3
    # Each stream would take 1000 x 50 ms = 50 s if nobody stopped it.
    path = "/stream?chunks=1000&delay=0.05"
    with serve(proxy_with_pool) as base_url:
        with ThreadPoolExecutor(max_workers=abandoned) as clients:
            list(clients.map(lambda _: _open_stream_and_leave(base_url, path), range(abandoned)))
        assert _wait_until(lambda: streams["closed"] == abandoned), streams
        assert streams["started"] == abandoned

        # Every pool thread is free again: POOL requests can be inside the app at once.
        with httpx.Client(base_url=base_url, timeout=30) as http, ThreadPoolExecutor(POOL) as pool:
            answers = list(pool.map(lambda _: http.get("/barrier"), range(POOL)))
        assert [a.status_code for a in answers] == [200] * POOL
        assert all(a.headers["x-served-by"] == "legacy" for a in answers)


def test_a_dropped_slow_download_frees_its_thread_at_the_next_chunk(
    proxy_with_pool: StranglerProxy,
) -> None:
    """The disconnect is watched from the first chunk: the thread is freed by the second.

    ``/drip`` sends ``chunk-0`` and then produces each chunk only when the test releases it.
    The client reads ``chunk-0`` and leaves. Once the proxy has seen the disconnect, one more
    chunk is released: handing it over must end the response and close the iterable, so the
    generator is never asked for a third chunk (before the fix the watch began only after the
    second chunk, so the thread went on to wait for the third).
    """
    legacy = proxy_with_pool.legacy.app
    drip, gate = legacy.config["DRIP"], legacy.config["DRIP_GATE"]
    try:
        with serve(proxy_with_pool) as base_url:
            _open_stream_and_leave(base_url, "/drip?chunks=100")
            # Safety net only: the bridge counts the disconnect it saw (main never does).
            _wait_until(lambda: getattr(proxy_with_pool.legacy, "disconnects", 0) >= 1, 10)
            assert drip == {"produced": 1, "closed": 0}
            gate.release()  # let the generator produce chunk-1, and only that one
            assert _wait_until(lambda: drip["closed"] == 1, 15), drip
            assert drip == {"produced": 2, "closed": 1}
            assert proxy_with_pool.legacy.disconnects == 1
            metrics = httpx.get(f"{base_url}/metrics", timeout=10).text
            assert "strangler_legacy_disconnects_total 1.0" in metrics

            # The thread is back in the pool: POOL requests can be inside the app at once.
            with (
                httpx.Client(base_url=base_url, timeout=30) as http,
                ThreadPoolExecutor(POOL) as pool,
            ):
                answers = list(pool.map(lambda _: http.get("/barrier"), range(POOL)))
            assert [a.status_code for a in answers] == [200] * POOL
    finally:
        gate.release(1000)  # never leave a thread waiting at the gate


def test_streams_read_to_the_end_are_complete_and_closed(proxy_with_pool: StranglerProxy) -> None:
    streams = proxy_with_pool.legacy.app.config["STREAMS"]
    with (
        serve(proxy_with_pool) as base_url,
        httpx.Client(base_url=base_url, timeout=30) as http,
        http.stream("GET", "/stream?chunks=50") as response,
    ):
        body = b"".join(response.iter_raw())
    assert body == b"".join(f"chunk-{i}\n".encode() for i in range(50))
    assert _wait_until(lambda: streams["closed"] == 1)


def test_the_pool_size_bounds_concurrent_legacy_requests(tmp_path: Path) -> None:
    """With one thread fewer than the barrier needs, it is never met (so the check can fail)."""
    settings = make_settings(tmp_path, legacy_threads=POOL - 1)
    small = make_proxy(
        settings, legacy=create_legacy_app(barrier_parties=POOL, barrier_timeout=0.5)
    )
    with (
        serve(small) as base_url,
        httpx.Client(base_url=base_url, timeout=30) as http,
        ThreadPoolExecutor(POOL - 1) as pool,
    ):
        answers = list(pool.map(lambda _: http.get("/barrier"), range(POOL - 1)))
    assert {a.status_code for a in answers} == {503}


def test_the_legacy_bridge_sizes_its_pool_from_settings(tmp_path: Path) -> None:
    proxy = make_proxy(make_settings(tmp_path, legacy_threads=7))
    assert proxy.legacy.threads == 7
    assert proxy.legacy.executor._max_workers == 7


def test_the_legacy_bridge_takes_its_niceness_from_settings(tmp_path: Path) -> None:
    proxy = make_proxy(make_settings(tmp_path, legacy_nice=5))
    assert proxy.legacy.nice == 5


def _report_priority(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpriority(os.PRIO_PROCESS, threading.get_native_id())).encode()]


@pytest.mark.anyio
async def test_pool_threads_run_below_the_event_loop_when_asked() -> None:
    loop_thread = threading.get_native_id()
    base = os.getpriority(os.PRIO_PROCESS, loop_thread)
    plain = await _call(_report_priority)
    assert int(plain.text) == base  # a new thread starts at its creator's niceness
    lowered = await _call(_report_priority, nice=7)
    assert int(lowered.text) == min(19, base + 7)
    # Only the pool's threads: the thread that runs the event loop keeps its priority.
    assert os.getpriority(os.PRIO_PROCESS, loop_thread) == base


# The bridge's WSGI semantics, with raw WSGI apps ---------------------------------------------


async def _call(app: Any, method: str = "GET", *, nice: int = 0, **kwargs: Any) -> httpx.Response:
    bridge = LegacyWSGIApp(app, threads=2, nice=nice)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=bridge), base_url="http://legacy"
        ) as http:
            return await http.request(method, "/", **kwargs)
    finally:
        bridge.close()


@pytest.mark.anyio
async def test_the_write_callable_and_the_iterable_are_both_sent() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written,")
        return [b"iterated,", b"", b"done"]

    response = await _call(app)
    assert response.content == b"written,iterated,done"


@pytest.mark.anyio
async def test_start_response_may_replace_headers_with_exc_info_before_the_body() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("X-First", "1")])
        try:
            raise ValueError("late failure")
        except ValueError:
            start_response("500 Internal Server Error", [("X-Second", "2")], sys.exc_info())
        return [b"failed"]

    response = await _call(app)
    assert response.status_code == 500
    assert "x-first" not in response.headers and response.headers["x-second"] == "2"


@pytest.mark.anyio
async def test_content_length_and_head_responses_are_complete() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = b"" if environ["REQUEST_METHOD"] == "HEAD" else b"0123456789"
        start_response("200 OK", [("Content-Length", "10")])
        return [body[:4], body[4:]]

    assert (await _call(app)).content == b"0123456789"
    head = await _call(app, "HEAD")
    assert (head.status_code, head.headers["content-length"], head.content) == (200, "10", b"")


@pytest.mark.anyio
async def test_request_bodies_are_read_by_the_wsgi_app() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        data = environ["wsgi.input"].read(size)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [data[::-1]]

    response = await _call(app, "POST", content=b"abc" * 100_000)
    assert response.content == (b"abc" * 100_000)[::-1]


@pytest.mark.anyio
async def test_an_exception_in_the_wsgi_app_reaches_the_server() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise LookupError("broken legacy view")

    with pytest.raises(LookupError, match="broken legacy view"):
        await _call(app)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
