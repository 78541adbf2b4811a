"""One JSON access line per proxied request, with the id, route and side."""

from __future__ import annotations

import io
import itertools
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from proxy.app import StranglerProxy
from proxy.telemetry.accesslog import AccessLog
from tests.proxy.harness import make_proxy, make_settings
from tests.services import REPO_ROOT

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


def _run_unbuffered(script: str, stdout_path: Path) -> str:
    """Run ``script`` under ``PYTHONUNBUFFERED=1`` with stdout to a file; return its stderr."""
    with stdout_path.open("wb") as stdout:
        done = subprocess.run(
            [sys.executable, "-c", script],
            stdout=stdout,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=REPO_ROOT,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    return done.stderr


_BUFFERED_CHILD = """
import os, sys
from proxy.telemetry.accesslog import buffer_stdout, configure_logging, flush_stdout
import structlog
configure_logging()
print("before", flush=True)
assert buffer_stdout() is True, "stdout to a file should be buffered"
structlog.get_logger("t").info("held")
sys.stdout.write("also held\\n")
size = os.fstat(1).st_size
sys.stderr.write(f"{size}\\n")
flush_stdout()
sys.stderr.write(f"{os.fstat(1).st_size}\\n")
"""


def test_buffered_stdout_holds_lines_until_flushed_even_when_unbuffered(tmp_path: Path) -> None:
    out = tmp_path / "stdout.txt"
    stderr = _run_unbuffered(_BUFFERED_CHILD, out)
    before_flush, after_flush = (int(value) for value in stderr.split())
    lines = out.read_text().splitlines()
    assert before_flush == len("before\n")  # the structlog line and the write were held
    assert after_flush == out.stat().st_size
    assert lines[0] == "before"
    assert json.loads(lines[1])["event"] == "held"
    assert lines[2] == "also held"


def test_a_terminal_keeps_its_line_by_line_output() -> None:
    primary, secondary = pty.openpty()
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys\nfrom proxy.telemetry.accesslog import buffer_stdout\n"
                "sys.stderr.write(str(buffer_stdout()))",
            ],
            stdout=secondary,
            stderr=subprocess.PIPE,
            cwd=REPO_ROOT,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(primary)
        os.close(secondary)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "False"


_LEVELS_CHILD = """
import os, sys
from proxy.telemetry.accesslog import buffer_stdout, configure_logging
import structlog
configure_logging("DEBUG")
buffer_stdout()
log = structlog.get_logger("t")
log.debug("quiet")
log.info("quiet too")
sizes = [os.fstat(1).st_size]
for level in ("warning", "error", "critical", "exception", "fatal", "msg"):
    getattr(log, level)(level)
    sizes.append(os.fstat(1).st_size)
sys.stderr.write(" ".join(map(str, sizes)))
"""


def test_the_process_logger_answers_every_level_and_flushes_warnings_at_once(
    tmp_path: Path,
) -> None:
    out = tmp_path / "stdout.txt"
    sizes = [int(value) for value in _run_unbuffered(_LEVELS_CHILD, out).split()]
    assert sizes[0] == 0  # debug and info wait for a flush
    # Each warning and error is on disk as soon as it is logged; "msg" (info) waits again.
    assert all(later > earlier for earlier, later in itertools.pairwise(sizes[:6]))
    assert sizes[6] == sizes[5]
    events = [json.loads(line)["event"] for line in out.read_text().splitlines()]
    assert events == [
        "quiet",
        "quiet too",
        "warning",
        "error",
        "critical",
        "exception",
        "fatal",
        "msg",
    ]
