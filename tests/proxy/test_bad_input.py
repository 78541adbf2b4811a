"""Bad input through ``resync-strangler``'s proxy, on each side: a 4xx problem, nothing stored.

One real Resync proxy process (``proxy.resync:create_resync_proxy`` under uvicorn on loopback,
both apps, the simulator, a seeded SQLite file) serves the module; each test runs with every
route on ``legacy``, then on ``new`` (the bulk admin call), and compares every table of the
database before and after the request. The classes are the rows of docs/bad-input.md.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import migrations
from tests.services import REPO_ROOT, TwsSim, free_port

SECRET = "resync-dev-secret-key-not-for-production-0001"
A = "/api/v1"
SIDES = ("legacy", "new")
# Written by every answer (the login attempts a lockout counts), never by bad input.
_ALWAYS_WRITTEN = {"login_attempts"}


@dataclass
class Served:
    base_url: str
    database_url: str
    admin_token: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def put_all_on(self, side: str) -> None:
        response = httpx.post(
            f"{self.base_url}/_strangler/routes/bulk",
            json={"mode": side, "reason": "bad-input test"},
            headers=self.headers(),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            seen = httpx.get(f"{self.base_url}/health/live", timeout=5).headers["x-served-by"]
            if seen == side:
                return
            time.sleep(0.05)
        raise AssertionError(f"routes did not move to {side}")

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table but the login attempts (sorted, so order does not matter)."""
        engine = sa.create_engine(self.database_url)
        try:
            metadata = sa.MetaData()
            metadata.reflect(engine)
            with engine.connect() as conn:
                return {
                    name: sorted(map(tuple, conn.execute(table.select())), key=repr)
                    for name, table in metadata.tables.items()
                    if name not in _ALWAYS_WRITTEN and not name.startswith("rag_chunks_fts")
                }
        finally:
            engine.dispose()


def _login(base_url: str, username: str, password: str) -> str:
    response = httpx.post(
        f"{base_url}{A}/auth/login",
        json={"username": username, "password": password},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, tws_sim_process: TwsSim) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("bad-input")
    database_url = f"sqlite:///{folder / 'resync.db'}"
    migrations.upgrade(database_url)
    migrations.seed(database_url, environment="test")
    port = free_port()
    env = {
        **os.environ,
        "RESYNC_ENV": "test",
        "RESYNC_SECRET_KEY": SECRET,
        "RESYNC_DATABASE_URL": database_url,
        "RESYNC_TWS_URL": tws_sim_process.twsd_url,
        "RESYNC_LOG_LEVEL": "WARNING",
        "STRANGLER_FLAG_STORE_URL": f"sqlite:///{folder / 'flags.db'}",
        "STRANGLER_MISMATCH_DB": str(folder / "mismatches.db"),
        "STRANGLER_POLL_INTERVAL": "0.05",
        "STRANGLER_ACCESS_LOG": "false",
    }
    log = folder / "proxy.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "proxy.resync:create_resync_proxy",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait(process, base_url, log)
        token = _login(base_url, "admin", "resync-admin-dev")
        yield Served(base_url, database_url, token)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the proxy exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/_strangler/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the proxy did not start:\n{log.read_text()}")


@pytest.fixture(params=SIDES)
def side(request: pytest.FixtureRequest, served: Served, tws_sim: TwsSim) -> str:
    served.put_all_on(request.param)
    return str(request.param)


def _problem(response: httpx.Response, status: int, side: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["x-served-by"] == side
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def _errors(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(error["field"], error["code"]) for error in body.get("errors", [])]


SURROGATE_BODIES = [
    pytest.param(
        f"{A}/auth/login",
        b'{"username":"a\\ud800","password":"x"}',
        [("username", "invalid_format")],
        id="login-username",
    ),
    pytest.param(
        f"{A}/chat",
        b'{"agent_id":"tws-general","message":"hi \\udfff"}',
        [("message", "invalid_format")],
        id="chat-message",
    ),
    pytest.param(
        f"{A}/users",
        b'{"username":"ann_s","password":"long-enough-pass","role":"viewer",'
        b'"full_name":"Ann \\ud800"}',
        [("full_name", "invalid_format")],
        id="users-full-name",
    ),
    pytest.param(
        f"{A}/users",
        b'{"username":"ann_k","password":"long-enough-pass","role":"viewer","\\ud800":1}',
        [("body", "invalid_format")],
        id="users-unknown-key",
    ),
    pytest.param(
        f"{A}/audit/review",
        b'{"memory_id":"x\\ud800","action":"approve"}',
        [("memory_id", "invalid_format")],
        id="audit-review",
    ),
]


@pytest.mark.parametrize(("path", "body", "errors"), SURROGATE_BODIES)
def test_a_lone_surrogate_is_a_400_that_stores_nothing(
    served: Served, side: str, path: str, body: bytes, errors: list[tuple[str, str]]
) -> None:
    before = served.snapshot()
    response = httpx.post(
        served.base_url + path,
        content=body,
        headers={**served.headers(), "Content-Type": "application/json"},
        timeout=10,
    )
    problem = _problem(response, 400, side)
    assert _errors(problem) == errors
    assert {error["message"] for error in problem["errors"]} == {
        "Unpaired surrogates are not allowed."
    }
    assert served.snapshot() == before


LISTS = [
    f"{A}/users",
    f"{A}/agents",
    f"{A}/rag/files",
    f"{A}/chat/history",
    f"{A}/audit/flags",
    f"{A}/status/jobs",
    f"{A}/status/workstations",
]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    "offset",
    [
        pytest.param("2147483648", id="2**31"),
        pytest.param(str(2**63), id="2**63"),
        pytest.param("12544549502980688017469997056", id="huge"),
    ],
)
def test_an_offset_past_the_maximum_is_a_400(
    served: Served, side: str, path: str, offset: str
) -> None:
    response = httpx.get(
        served.base_url + path, params={"offset": offset}, headers=served.headers(), timeout=10
    )
    problem = _problem(response, 400, side)
    assert problem["errors"] == [
        {
            "field": "offset",
            "code": "out_of_range",
            "message": "Must be between 0 and 2147483647.",
        }
    ]


@pytest.mark.parametrize("path", LISTS)
def test_the_largest_offset_is_an_empty_page(served: Served, side: str, path: str) -> None:
    response = httpx.get(
        served.base_url + path,
        params={"offset": "2147483647"},
        headers=served.headers(),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []
    assert response.json()["offset"] == 2147483647


def test_the_spec_states_the_offset_maximum(served: Served) -> None:
    spec = httpx.get(f"{served.base_url}/openapi.json", timeout=10).json()
    offsets = [
        parameter["schema"]
        for item in spec["paths"].values()
        for operation in item.values()
        for parameter in operation.get("parameters", [])
        if parameter["name"] == "offset"
    ]
    assert len(offsets) == len(LISTS)
    assert all(schema["minimum"] == 0 for schema in offsets)
    assert all(schema["maximum"] == 2**31 - 1 for schema in offsets)


def _raw_request(base_url: str, head: str, chunks: list[bytes]) -> tuple[int, bytes]:
    """Send a chunked request over a plain socket; return the status and the body."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode("latin-1"))
        try:
            for chunk in chunks:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server may answer and close before the whole body is read
        received = b""
        while b"\r\n\r\n" not in received:
            data = sock.recv(65536)
            if not data:
                break
            received += data
        head_part, _, rest = received.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head_part.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(rest) < length:
            data = sock.recv(65536)
            if not data:
                break
            rest += data
    return int(head_part.split(b" ", 2)[1]), rest


@pytest.mark.parametrize("authorized", [True, False], ids=["operator", "anonymous"])
def test_a_chunked_body_over_the_limit_is_a_413(
    served: Served, side: str, authorized: bool
) -> None:
    before = served.snapshot()
    auth = f"Authorization: Bearer {served.admin_token}\r\n" if authorized else ""
    head = (
        f"POST {A}/chat HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Transfer-Encoding: chunked\r\n{auth}\r\n"
    )
    status, body = _raw_request(served.base_url, head, [b"x" * 65536] * 32)  # 2 MiB
    assert status == 413
    assert json.loads(body)["detail"] == "The request body exceeds the limit of 1048576 bytes."
    assert served.snapshot() == before


def test_a_small_chunked_body_is_read(served: Served, side: str) -> None:
    head = (
        f"POST {A}/chat HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Transfer-Encoding: chunked\r\nAuthorization: Bearer {served.admin_token}\r\n\r\n"
    )
    status, body = _raw_request(
        served.base_url, head, [b'{"agent_id":"tws-general",', b'"message":"plan"}']
    )
    assert status == 200, body
    assert json.loads(body)["intent"] == "plan"


@pytest.mark.parametrize(
    "second",
    [
        pytest.param("same", id="the-same-token-twice"),
        pytest.param("", id="a-second-empty-header"),
        pytest.param("Basic YWRtaW46eA==", id="a-second-scheme"),
    ],
)
def test_two_authorization_headers_are_refused(served: Served, side: str, second: str) -> None:
    first = f"Bearer {served.admin_token}"
    headers = [("Authorization", first), ("Authorization", first if second == "same" else second)]
    response = httpx.get(f"{served.base_url}{A}/agents", headers=headers, timeout=10)
    problem = _problem(response, 401, side)
    assert problem["detail"] == "Missing bearer token."
    assert response.headers["www-authenticate"] == "Bearer"
