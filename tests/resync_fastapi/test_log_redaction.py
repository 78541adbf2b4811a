"""The app alone under uvicorn logs no token: its own lines and uvicorn's (access, WebSocket)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import migrations
from resync_fastapi.core.log_redaction import redact_target
from tests.resync_fastapi.harness import SECRET, mint
from tests.services import REPO_ROOT, TwsSim, free_port


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, tws_sim_process: TwsSim
) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("new-alone")
    database_url = f"sqlite:///{folder / 'resync.db'}"
    migrations.upgrade(database_url)
    migrations.seed(database_url, environment="test")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESYNC_")}
    env.update(
        {
            "RESYNC_ENV": "test",
            "RESYNC_SECRET_KEY": SECRET,
            "RESYNC_DATABASE_URL": database_url,
            "RESYNC_TWS_URL": tws_sim_process.twsd_url,
            "PYTHONUNBUFFERED": "1",
        }
    )
    log = folder / "uvicorn.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "resync_fastapi.main:create_app",
             "--host", "127.0.0.1", "--port", str(port)],  # uvicorn's access log left on
            cwd=REPO_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"uvicorn exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("uvicorn did not start within 30 s")
            time.sleep(0.1)
        yield url, log
    finally:
        process.terminate()
        process.wait(timeout=20)


def _wait_for(log: Path, needle: str) -> str:
    deadline = time.monotonic() + 10
    while True:
        text = log.read_text()
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def test_a_token_in_the_path_or_query_is_not_logged(served: tuple[str, Path]) -> None:
    url, log = served
    token = mint("viewer")
    httpx.get(f"{url}/api/v1/agents/{token}?access_token={token}&page=2", timeout=10)
    _wait_for(log, "GET /api/v1/agents/[REDACTED]?access_token=[REDACTED]&page=2")
    text = _wait_for(log, '"path": "/api/v1/agents/[REDACTED]"')
    assert "GET /api/v1/agents/[REDACTED]?access_token=[REDACTED]&page=2" in text  # uvicorn's
    assert '"path": "/api/v1/agents/[REDACTED]"' in text  # the app's own line
    assert token not in text and token.split(".")[2] not in text


def test_a_websocket_token_in_the_query_is_not_logged(served: tuple[str, Path]) -> None:
    from websockets.sync.client import connect

    url, log = served
    token = mint("operator")
    with connect(url.replace("http", "ws") + f"/api/v1/ws/chat/1?token={token}", open_timeout=10):
        pass
    text = _wait_for(log, "WebSocket /api/v1/ws/chat/1?token=[REDACTED]")
    assert "WebSocket /api/v1/ws/chat/1?token=[REDACTED]" in text
    assert token not in text


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        pytest.param("/api/v1/agents/7", "/api/v1/agents/7", id="ids-kept"),
        pytest.param("/x?password=hunter2&q=a", "/x?password=[REDACTED]&q=a", id="password"),
        pytest.param("/x?refresh_token=abc", "/x?refresh_token=[REDACTED]", id="refresh-token"),
        pytest.param("/x?token_type=bearer", "/x?token_type=bearer", id="token-type-kept"),
        pytest.param("/f/" + "ab12" * 8, "/f/" + "ab12" * 8, id="hex-id-kept"),
        pytest.param("/f/Ab1" * 1 + "x" * 40, "/f/[REDACTED]", id="opaque-token"),
        pytest.param(
            "/jobs/DAILY_BACKUP_000000000000000000001",
            "/jobs/DAILY_BACKUP_000000000000000000001",
            id="job-name-kept",
        ),
    ],
)
def test_redact_target(target: str, expected: str) -> None:
    assert redact_target(target) == expected
