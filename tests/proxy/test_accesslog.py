"""One JSON access line per proxied request, with the id, route and side."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest

from proxy.accesslog import AccessLog
from proxy.app import StranglerProxy
from tests.proxy.harness import make_proxy, make_settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_each_request_writes_one_line_with_its_route_and_side(tmp_path: Path) -> None:
    stream = io.StringIO()
    proxy: StranglerProxy = make_proxy(make_settings(tmp_path))
    proxy.dispatcher.access_log = AccessLog(stream=stream)
    transport = httpx.ASGITransport(app=proxy)
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as http:
        await http.get("/api/items/4", headers={"X-Request-ID": "req-1"})
        await http.get("/nowhere")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    first = lines[0]
    assert {k: first[k] for k in ("event", "app", "request_id", "method", "path")} == {
        "event": "request",
        "app": "proxy",
        "request_id": "req-1",
        "method": "GET",
        "path": "/api/items/4",
    }
    assert (first["route"], first["side"], first["status"]) == (
        "GET /api/items/{item_id}",
        "legacy",
        200,
    )
    assert first["duration_ms"] > 0
    assert (lines[1]["route"], lines[1]["status"]) == (None, 404)
    assert "authorization" not in stream.getvalue().lower()


async def test_the_access_log_can_be_turned_off(tmp_path: Path) -> None:
    stream = io.StringIO()
    proxy = make_proxy(make_settings(tmp_path))
    proxy.dispatcher.access_log = AccessLog(enabled=False, stream=stream)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=proxy), base_url="http://proxy"
    ) as http:
        await http.get("/api/items")
    assert stream.getvalue() == ""


class _CountingStream(io.StringIO):
    """A stream that counts the system calls the access log would make on a real one."""

    def __init__(self, *, tty: bool) -> None:
        super().__init__()
        self.tty = tty
        self.isatty_calls = 0
        self.flushes = 0

    def isatty(self) -> bool:
        self.isatty_calls += 1
        return self.tty

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


@pytest.mark.parametrize(
    ("tty", "flushes"),
    [pytest.param(False, 0, id="pipe-or-file"), pytest.param(True, 3, id="terminal")],
)
def test_the_stream_is_asked_whether_it_is_a_terminal_once_not_per_line(
    tty: bool, flushes: int
) -> None:
    stream = _CountingStream(tty=tty)
    log = AccessLog(stream=stream)
    for number in range(3):
        log.request(
            request_id=f"r{number}",
            method="GET",
            path="/api/items",
            route="GET /api/items",
            side="legacy",
            status=200,
            duration_ms=1.0,
        )
    assert len(stream.getvalue().splitlines()) == 3
    assert (stream.isatty_calls, stream.flushes) == (1, flushes)
