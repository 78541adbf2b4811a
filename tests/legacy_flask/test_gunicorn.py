"""The app served for real: gunicorn with threaded workers, on loopback."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.legacy_flask.harness import PASSWORDS, SECRET, auth
from tests.services import REPO_ROOT, TwsSim, free_port


@dataclass
class Served:
    url: str
    log: Path


@pytest.fixture(scope="module")
def served(
    module_database_url: str, tws_sim_process: TwsSim, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    port = free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "stderr.log"
    env = {
        **os.environ,
        "LEGACY_BIND": f"127.0.0.1:{port}",
        "LEGACY_WORKERS": "1",
        "LEGACY_THREADS": "4",
        "RESYNC_ENV": "test",
        "RESYNC_DATABASE_URL": module_database_url,
        "RESYNC_TWS_URL": tws_sim_process.twsd_url,
        "RESYNC_SECRET_KEY": SECRET,
    }
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "-c",
                "legacy_flask/gunicorn.conf.py",
                "legacy_flask:create_app()",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"gunicorn exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("gunicorn did not start within 30 s")
            time.sleep(0.1)
        yield Served(url=url, log=log)
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_serves_concurrent_requests(served: Served) -> None:
    def fetch(n: int) -> int:
        headers = {**auth("viewer"), "X-Request-ID": f"conc-{n}"}
        response = httpx.get(f"{served.url}/api/v1/status/plan", headers=headers, timeout=10)
        assert response.headers["X-Request-ID"] == f"conc-{n}"
        return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(fetch, range(24))) == [200] * 24


def test_access_log_lines_are_json(served: Served) -> None:
    httpx.get(f"{served.url}/health/live", headers={"X-Request-ID": "gunicorn-log-1"}, timeout=5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [
            json.loads(line)
            for line in served.log.read_text().splitlines()
            if line.startswith("{") and "gunicorn-log-1" in line
        ]
        if lines:
            break
        time.sleep(0.05)
    assert len(lines) == 1
    line = lines[0]
    assert line["event"] == "request" and line["app"] == "legacy"
    assert line["method"] == "GET" and line["path"] == "/health/live" and line["status"] == 200
    assert isinstance(line["duration_ms"], float)


def test_export_is_streamed_in_chunks(served: Served) -> None:
    with httpx.stream(
        "GET", f"{served.url}/api/v1/audit/export", headers=auth("admin"), timeout=10
    ) as response:
        assert response.status_code == 200
        assert response.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in response.headers
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert [line["memory_id"] for line in lines[:2]] == ["seed-0001", "seed-0002"]


def test_head_has_no_body(served: Served) -> None:
    response = httpx.head(f"{served.url}/api/v1/agents", headers=auth("viewer"), timeout=5)
    assert response.status_code == 200
    assert response.content == b""


def test_oversized_chunked_body_is_413(served: Served) -> None:
    def body() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * 100_000

    response = httpx.post(
        f"{served.url}/api/v1/chat",
        content=body(),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 413
    assert response.json()["detail"] == "The request body exceeds the limit of 1048576 bytes."


def _wait_for_log(served: Served, needle: str) -> str:
    deadline = time.monotonic() + 10
    while True:
        text = served.log.read_text()
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def test_a_token_in_the_path_is_redacted_in_the_access_line(served: Served) -> None:
    token = auth("viewer")["Authorization"].split()[1]
    request_id = "gunicorn-redact-1"
    httpx.get(
        f"{served.url}/api/v1/agents/{token}",
        headers={"X-Request-ID": request_id},
        timeout=5,
    )
    log = _wait_for_log(served, request_id)
    line = next(json.loads(x) for x in log.splitlines() if request_id in x and x.startswith("{"))
    assert line["path"] == "/api/v1/agents/[REDACTED]"
    assert token not in log and token.split(".")[2] not in log


def test_x_forwarded_for_does_not_lift_the_login_lockout(served: Served) -> None:
    """gunicorn counts the peer (REMOTE_ADDR), never a client-sent X-Forwarded-For."""
    body = {"username": "operator", "password": "wrong-password"}
    for _ in range(5):
        failed = httpx.post(f"{served.url}/api/v1/auth/login", json=body, timeout=10)
        assert failed.status_code == 401
    body["password"] = PASSWORDS["operator"]
    spoofed = httpx.post(
        f"{served.url}/api/v1/auth/login",
        json=body,
        headers={"X-Forwarded-For": "10.9.8.7"},
        timeout=10,
    )
    assert spoofed.status_code == 429


def test_forwarded_headers_are_trusted_from_no_one_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config_file = str(REPO_ROOT / "legacy_flask" / "gunicorn.conf.py")
    monkeypatch.delenv("RESYNC_FORWARDED_ALLOW_IPS", raising=False)
    assert runpy.run_path(config_file)["forwarded_allow_ips"] == ""
    monkeypatch.setenv("RESYNC_FORWARDED_ALLOW_IPS", "10.0.0.1,10.0.0.2")
    assert runpy.run_path(config_file)["forwarded_allow_ips"] == "10.0.0.1,10.0.0.2"
