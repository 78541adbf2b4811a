"""Request limits: oversized heads get 431 and slow bodies 408, on a real uvicorn, both sides."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.app import StranglerProxy
from proxy.cli.serve import uvicorn_options
from proxy.routing.limits import header_bytes
from tests.proxy.harness import make_proxy, make_settings, serve, set_mode
from tests.proxy.resync_server import read_until_closed

SIDES = ["legacy", "new"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StranglerProxy, str]]:
    settings = make_settings(
        tmp_path_factory.mktemp("limits"),
        max_header_bytes=4096,
        body_idle_timeout=0.5,
        body_total_timeout=2.0,
    )
    proxy = make_proxy(settings)
    with serve(proxy, **uvicorn_options(settings)) as url:
        yield proxy, url


@pytest.fixture(params=SIDES)
def side(request: pytest.FixtureRequest, served: tuple[StranglerProxy, str]) -> str:
    with httpx.Client(base_url=served[1], timeout=10) as http:
        for route in ("GET /echo", "POST /echo", "GET /stream"):
            set_mode(http, route, request.param)
    return str(request.param)


def _port(served: tuple[StranglerProxy, str]) -> int:
    return int(served[1].rsplit(":", 1)[1])


def _exchange(port: int, head: bytes, body_steps: list[tuple[bytes, float]] = ()) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        try:
            for chunk, pause in body_steps:
                sock.sendall(chunk)
                time.sleep(pause)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_until_closed(sock)


def _parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def _refused(proxy: StranglerProxy, reason: str) -> float:
    value = proxy.metrics.registry.get_sample_value(
        "strangler_requests_refused_total", {"reason": reason}
    )
    return float(value or 0)


def test_header_bytes_counts_target_names_values_and_separators() -> None:
    scope: dict[str, Any] = {
        "raw_path": b"/a",
        "query_string": b"b=1",
        "headers": [(b"host", b"x"), (b"x-long", b"v" * 10)],
    }
    assert header_bytes(scope) == 2 + 3 + 1 + (4 + 1 + 4) + (6 + 10 + 4)


def test_a_head_over_the_limit_is_answered_431_before_any_app(
    served: tuple[StranglerProxy, str], side: str
) -> None:
    proxy = served[0]
    before = _refused(proxy, "header_size")
    raw = _exchange(
        _port(served), b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n"
    )
    status, headers, body = _parse(raw)
    assert status == 431
    assert headers["content-type"] == "application/problem+json"
    assert "x-served-by" not in headers  # no app saw it
    problem = json.loads(body)
    assert list(problem) == ["type", "title", "status", "detail", "instance", "request_id"]
    assert problem["detail"].endswith("exceed the limit of 4096 bytes.")
    assert problem["instance"] == "/echo"
    assert _refused(proxy, "header_size") == before + 1


def test_a_head_within_the_limit_is_served(served: tuple[StranglerProxy, str], side: str) -> None:
    response = httpx.get(served[1] + "/echo", headers={"X-Big": "a" * 3000}, timeout=10)
    assert (response.status_code, response.headers["x-served-by"]) == (200, side)


def test_an_oversized_websocket_handshake_is_refused(served: tuple[StranglerProxy, str]) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url = served[1].replace("http://", "ws://") + "/ws/echo"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, additional_headers={"X-Big": "a" * 5000}, open_timeout=10)
    assert refused.value.response.status_code == 431
    with connect(url, open_timeout=10) as ws:  # an ordinary handshake still works
        ws.send("hi")
        assert ws.recv(timeout=5) == "new:hi"


def _post_head(length: int) -> bytes:
    return (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
        b"Content-Length: " + str(length).encode() + b"\r\n\r\n"
    )


def test_a_body_that_pauses_too_long_is_answered_408(
    served: tuple[StranglerProxy, str], side: str
) -> None:
    proxy = served[0]
    before = _refused(proxy, "body_timeout")
    started = time.monotonic()
    raw = _exchange(_port(served), _post_head(10), [(b"abc", 0.0)])
    status, headers, body = _parse(raw)
    assert status == 408, raw[:200]
    assert headers["connection"] == "close"
    assert json.loads(body)["detail"] == "The request body paused for more than 0.5 s."
    assert time.monotonic() - started < 5
    assert _refused(proxy, "body_timeout") == before + 1


def test_a_body_that_trickles_is_cut_at_the_total_limit(
    served: tuple[StranglerProxy, str], side: str
) -> None:
    steps = [(b"a", 0.3)] * 30  # never idle for 0.5 s, 9 s in all
    started = time.monotonic()
    status, _, body = _parse(_exchange(_port(served), _post_head(30), steps))
    assert status == 408
    assert json.loads(body)["detail"] == "The request body did not arrive within 2 s."
    assert time.monotonic() - started < 6


def test_a_chunked_body_is_timed_too(served: tuple[StranglerProxy, str]) -> None:
    """New side only: the sample Flask app answers a chunked body without reading it."""
    with httpx.Client(base_url=served[1], timeout=10) as http:
        set_mode(http, "POST /echo", "new")
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    status, _, _ = _parse(_exchange(_port(served), head, [(b"3\r\nabc\r\n", 0.0)]))
    assert status == 408


def test_a_prompt_body_then_a_slow_streamed_answer_is_not_timed(
    served: tuple[StranglerProxy, str], side: str
) -> None:
    """Once the body is in, receive() is not timed: the legacy disconnect watch waits freely."""
    head = (
        b"GET /stream?chunks=4&delay=0.4 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
        b"Connection: close\r\n\r\nab"
    )
    status, headers, body = _parse(_exchange(_port(served), head))
    assert (status, headers["x-served-by"]) == (200, side)
    assert b"chunk-3" in body


def test_the_settings_default_to_16_kib_10_s_and_60_s(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert (settings.max_header_bytes, settings.body_idle_timeout) == (16384, 10.0)
    assert settings.body_total_timeout == 60.0
    assert uvicorn_options(settings)["h11_max_incomplete_event_size"] == 1024 * 1024


@pytest.mark.parametrize("http", ["h11", "proxy.cli.serve:BoundedHttpToolsProtocol"])
def test_both_uvicorn_parsers_answer_431(tmp_path: Path, http: str) -> None:
    settings = make_settings(tmp_path, max_header_bytes=2048)
    options = {**uvicorn_options(settings), "http": http}
    with serve(make_proxy(settings), **options) as url:
        port = int(url.rsplit(":", 1)[1])
        raw = _exchange(
            port, b"GET /echo HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 100_000 + b"\r\n\r\n"
        )
    assert _parse(raw)[0] == 431


def test_serve_uses_the_bounded_httptools_protocol(tmp_path: Path) -> None:
    assert uvicorn_options(make_settings(tmp_path))["http"] == (
        "proxy.cli.serve:BoundedHttpToolsProtocol"
    )


def test_an_endless_head_is_cut_at_the_parser_without_buffering_it(tmp_path: Path) -> None:
    """Past 64 x the limit the httptools protocol answers 431 itself and closes the connection."""
    settings = make_settings(tmp_path, max_header_bytes=2048)  # parser cap: 128 KiB
    with serve(make_proxy(settings), **uvicorn_options(settings)) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
            sent = 0
            try:
                while sent < 50 * 1024 * 1024:  # the head never ends
                    sock.sendall(b"X-Filler: " + b"f" * 1000 + b"\r\n")
                    sent += 1012
            except (BrokenPipeError, ConnectionResetError):
                pass
            raw = read_until_closed(sock)
    assert sent < 50 * 1024 * 1024  # the server hung up long before
    status, headers, body = _parse(raw)
    assert status == 431
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["detail"] == "The request headers exceed the limit of 131072 bytes."
