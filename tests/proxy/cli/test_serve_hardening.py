"""What an attacker tried against ``resync-strangler serve``, all-legacy and all-new (issue 12).

One real server per module (both Resync apps under uvicorn, a seeded SQLite database, the TWS
simulator), with short body timeouts so the slow-body cases take seconds; a second server trusts
127.0.0.1 as a reverse proxy, to show the setting works when it is given.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from tests.proxy.resync_server import (
    SECRET,
    ResyncServer,
    read_until_closed,
    resync_serve,
)
from tests.services import TwsSim

SIDES = ["legacy", "new"]
# Distinct users per side: failed logins are counted in the one shared database.
LOCKED_USER = {"legacy": "operator", "new": "viewer"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tws_sim_process: TwsSim) -> Iterator[Any]:
    with resync_serve(
        tmp_path_factory.mktemp("serve-hardening"),
        tws_sim_process.twsd_url,
        STRANGLER_BODY_IDLE_TIMEOUT="1",
        STRANGLER_BODY_TOTAL_TIMEOUT="3",
        RESYNC_LOG_LEVEL="INFO",
    ) as running:
        yield running


@pytest.fixture(params=SIDES)
def side(request: pytest.FixtureRequest, server: ResyncServer) -> str:
    server.all_routes(request.param)
    return str(request.param)


def _problem(raw: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, json.loads(body) if body else {}


def _token(**overrides: Any) -> str:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": "resync",
        "aud": "resync-api",
        "sub": "admin",
        "role": "admin",
        "typ": "access",
        "jti": os.urandom(16).hex(),
        "sid": os.urandom(16).hex(),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=30)).timestamp()),
    }
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, SECRET, "HS256")


# 1. Forwarded headers ------------------------------------------------------------------------


def test_x_forwarded_for_does_not_lift_the_login_lockout(server: ResyncServer, side: str) -> None:
    user = LOCKED_USER[side]
    for _ in range(5):
        assert server.login(user, "wrong-password").status_code == 401
    assert server.login(user).status_code == 429
    spoofed = server.login(user, **{"X-Forwarded-For": "10.9.8.7"})
    assert spoofed.status_code == 429, spoofed.text
    assert spoofed.headers["x-served-by"] == side
    assert "retry-after" in spoofed.headers


def test_x_forwarded_for_does_not_pick_the_canary_bucket(server: ResyncServer) -> None:
    server.all_routes("legacy")
    response = httpx.post(
        f"{server.base_url}/_strangler/routes",
        json={"route": "GET /health/live", "mode": "canary", "percent": 50, "reason": "test"},
        headers=server.admin,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    try:
        sides = {
            httpx.get(
                f"{server.base_url}/health/live",
                headers={"X-Forwarded-For": f"10.0.{n}.{n}"},
                timeout=5,
            ).headers["x-served-by"]
            for n in range(24)
        }
    finally:
        server.all_routes("legacy")
    assert len(sides) == 1  # every anonymous caller is 127.0.0.1, whatever it claims


@pytest.fixture(scope="module")
def behind_a_proxy(
    tmp_path_factory: pytest.TempPathFactory, tws_sim_process: TwsSim
) -> Iterator[ResyncServer]:
    with resync_serve(
        tmp_path_factory.mktemp("serve-trusted"),
        tws_sim_process.twsd_url,
        STRANGLER_FORWARDED_ALLOW_IPS="127.0.0.1",
    ) as running:
        yield running


def test_a_configured_reverse_proxy_is_believed(behind_a_proxy: ResyncServer) -> None:
    """With STRANGLER_FORWARDED_ALLOW_IPS the lockout counts the address the proxy reports."""
    for _ in range(5):
        failed = behind_a_proxy.login("operator", "wrong", **{"X-Forwarded-For": "10.1.1.1"})
        assert failed.status_code == 401
    locked = behind_a_proxy.login("operator", **{"X-Forwarded-For": "10.1.1.1"})
    assert locked.status_code == 429
    assert behind_a_proxy.login("operator", **{"X-Forwarded-For": "10.2.2.2"}).status_code == 200


# 4. Admin API tokens -------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["jti", "sid"])
def test_a_token_the_apps_refuse_is_refused_by_the_admin_api(
    server: ResyncServer, side: str, missing: str
) -> None:
    token = _token(**{missing: None})
    headers = {"Authorization": f"Bearer {token}"}
    # The apps refuse it ...
    app = httpx.get(f"{server.base_url}/api/v1/users", headers=headers, timeout=10)
    assert (app.status_code, app.headers["x-served-by"]) == (401, side)
    # ... and so does the admin API, reading and writing.
    read = httpx.get(f"{server.base_url}/_strangler/routes", headers=headers, timeout=10)
    write = httpx.post(
        f"{server.base_url}/_strangler/routes",
        json={"route": "GET /api/v1/agents", "mode": "new", "reason": "attacker"},
        headers=headers,
        timeout=10,
    )
    assert (read.status_code, write.status_code) == (401, 401)
    assert write.headers["content-type"] == "application/problem+json"
    routes = httpx.get(f"{server.base_url}/_strangler/routes", headers=server.admin, timeout=10)
    agents = next(r for r in routes.json()["routes"] if r["route"] == "GET /api/v1/agents")
    assert agents["mode"] == side  # nothing changed


def test_a_logged_out_admin_token_is_refused_by_the_admin_api(server: ResyncServer) -> None:
    token = server.login("admin").json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{server.base_url}/_strangler/routes", headers=headers).status_code == 200
    logout = httpx.post(f"{server.base_url}/api/v1/auth/logout", headers=headers, timeout=10)
    assert logout.status_code == 204
    assert httpx.get(f"{server.base_url}/_strangler/routes", headers=headers).status_code == 401


# 5. Header size and slow bodies --------------------------------------------------------------


def test_a_100_kb_token_is_answered_431(server: ResyncServer, side: str) -> None:
    token = _token(pad="x" * 100_000)
    raw = server.raw(
        b"GET /api/v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + token.encode()
        + b"\r\n\r\n"
    )
    status, headers, body = _problem(raw)
    assert status == 431
    assert headers["content-type"] == "application/problem+json"
    assert body["type"] == "urn:resync:problem:header-too-large"
    assert body["status"] == 431 and body["request_id"] == headers["x-request-id"]
    assert "16384 bytes" in body["detail"]
    metrics = httpx.get(f"{server.base_url}/metrics", timeout=5).text
    assert 'strangler_requests_refused_total{reason="header_size"}' in metrics


def test_ordinary_headers_pass(server: ResyncServer, side: str) -> None:
    headers = {**server.admin, "X-Padding": "p" * 12_000}
    response = httpx.get(f"{server.base_url}/api/v1/users", headers=headers, timeout=10)
    assert (response.status_code, response.headers["x-served-by"]) == (200, side)


def _slow_login(server: ResyncServer, pause: float, count: int) -> tuple[bytes, float]:
    body = b'{"username":"admin","password":"resync-admin-dev"}'
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        started = time.monotonic()
        try:
            for byte in body[:count]:
                sock.sendall(bytes([byte]))
                time.sleep(pause)
        except (BrokenPipeError, ConnectionResetError):
            pass
        raw = read_until_closed(sock)
        return raw, time.monotonic() - started


def test_a_body_that_stops_is_answered_408(server: ResyncServer, side: str) -> None:
    raw, elapsed = _slow_login(server, pause=0.0, count=5)  # five bytes, then nothing
    status, headers, body = _problem(raw)
    assert status == 408, raw[:300]
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert body["type"] == "urn:resync:problem:request-timeout"
    assert "paused" in body["detail"]
    assert elapsed < 10


def test_a_body_trickled_a_byte_at_a_time_is_cut_at_the_total_limit(
    server: ResyncServer, side: str
) -> None:
    raw, elapsed = _slow_login(server, pause=0.4, count=50)  # never idle 1 s, 20 s in all
    status, _, body = _problem(raw)
    assert status == 408, raw[:300]
    assert "did not arrive within 3 s" in body["detail"]
    assert elapsed < 8
    metrics = httpx.get(f"{server.base_url}/metrics", timeout=5).text
    assert 'strangler_requests_refused_total{reason="body_timeout"}' in metrics
    # The app's cut-short read is contained: a warning from the proxy, no error from the app.
    log = server.wait_for_log('"reason": "body_timeout"')
    assert '"reason": "body_timeout"' in log
    assert "Traceback" not in log and "unhandled_error" not in log


def test_a_prompt_body_is_untouched(server: ResyncServer, side: str) -> None:
    response = server.login("admin")
    assert (response.status_code, response.headers["x-served-by"]) == (200, side)


# 6. Secrets in logs ---------------------------------------------------------------------------


def test_a_token_in_a_path_is_not_logged(server: ResyncServer, side: str) -> None:
    token = _token()
    response = httpx.get(f"{server.base_url}/api/v1/agents/{token}", timeout=10)
    assert response.headers["x-served-by"] == side
    marker = f"marker-{side}-{os.urandom(4).hex()}"
    httpx.get(f"{server.base_url}/api/v1/{marker}", timeout=10)
    log = server.wait_for_log(marker)
    assert marker in log
    assert token not in log
    assert token.split(".")[2] not in log
    assert "/api/v1/agents/[REDACTED]" in log


def test_a_websocket_token_in_the_query_is_not_logged(server: ResyncServer) -> None:
    from websockets.sync.client import connect

    token = server.admin_token
    url = f"ws://127.0.0.1:{server.port}/api/v1/ws/chat/1?token={token}&x=1"
    with connect(url, open_timeout=10) as socket_:
        socket_.close()
    log = server.wait_for_log("?token=[REDACTED]&x=1")
    assert "WebSocket /api/v1/ws/chat/1?token=[REDACTED]&x=1" in log
    assert token not in log
