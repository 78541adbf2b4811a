"""The Resync composition: its token verifier, its apps' shared dry-run key, and ``serve``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import structlog
from sqlalchemy import create_engine, text

import migrations
from proxy.auth import InvalidToken, Principal
from proxy.resync import ResyncTokenVerifier, build_resync_apps, create_resync_proxy
from proxy.settings import ProxySettings
from tests.services import REPO_ROOT, free_port

pytestmark = pytest.mark.anyio

SECRET = "resync-dev-secret-key-not-for-production-0001"  # the development default
PASSWORDS = {"admin": "resync-admin-dev", "viewer": "resync-viewer-dev"}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def resync_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('resync') / 'resync.db'}"
    migrations.upgrade(url)
    migrations.seed(url, environment="test")
    return url


def _token(sub: str = "admin", role: str = "admin", **overrides: Any) -> str:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": "resync",
        "aud": "resync-api",
        "sub": sub,
        "role": role,
        "typ": "access",
        "jti": os.urandom(16).hex(),
        "sid": os.urandom(16).hex(),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=30)).timestamp()),
    }
    secret = overrides.pop("secret", SECRET)
    claims.update(overrides)
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(claims, secret, algorithm="HS256")


async def test_an_admin_access_token_is_accepted(resync_db: str) -> None:
    verifier = ResyncTokenVerifier(SECRET, database_url=resync_db)
    assert await verifier(_token()) == Principal("admin", "admin")
    assert await verifier(_token("viewer", "viewer")) == Principal("viewer", "viewer")


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"secret": "another-secret-of-enough-length-000000"}, id="signature"),
        pytest.param({"aud": "someone-else"}, id="audience"),
        pytest.param({"iss": "elsewhere"}, id="issuer"),
        pytest.param({"typ": "refresh"}, id="refresh-token"),
        pytest.param({"exp": int(time.time()) - 120}, id="expired"),
        pytest.param({"role": "viewer"}, id="role-differs-from-the-users"),
        pytest.param({"sub": "ghost"}, id="unknown-user"),
        pytest.param({"jti": None}, id="no-jti-so-never-revocable"),
        pytest.param({"sid": None}, id="no-sid-so-never-revocable"),
        pytest.param({"typ": None}, id="no-typ"),
        pytest.param({"iat": None}, id="no-iat"),
        pytest.param({"jti": ""}, id="empty-jti"),
        pytest.param({"sid": 12345}, id="sid-not-a-string"),
        pytest.param({"jti": "j" * 65}, id="jti-over-64-characters"),
        pytest.param({"role": ["admin"]}, id="role-not-a-string"),
    ],
)
async def test_tokens_the_apps_would_refuse_are_refused(
    resync_db: str, overrides: dict[str, Any]
) -> None:
    verifier = ResyncTokenVerifier(SECRET, database_url=resync_db)
    with pytest.raises(InvalidToken):
        await verifier(_token(**overrides))


async def test_a_token_within_the_leeway_is_still_accepted(resync_db: str) -> None:
    verifier = ResyncTokenVerifier(SECRET, database_url=resync_db)
    token = _token(exp=int(time.time()) - 10)
    assert (await verifier(token)).subject == "admin"


@pytest.mark.parametrize("claim", ["jti", "sid"])
async def test_revoked_tokens_are_refused(resync_db: str, claim: str) -> None:
    verifier = ResyncTokenVerifier(SECRET, database_url=resync_db)
    token = _token()
    token_id = jwt.decode(token, options={"verify_signature": False})[claim]
    engine = create_engine(resync_db)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO revoked_tokens (token_id, revoked_at, expires_at)"
                " VALUES (:id, :now, :now)"
            ),
            {"id": token_id, "now": datetime.now(UTC).replace(tzinfo=None)},
        )
    engine.dispose()
    with pytest.raises(InvalidToken):
        await verifier(token)


async def test_without_its_database_the_verifier_fails_closed() -> None:
    verifier = ResyncTokenVerifier(
        SECRET, database_url=f"postgresql://nobody@127.0.0.1:{free_port()}/none"
    )
    with pytest.raises(InvalidToken):
        await verifier(_token())


def test_both_apps_get_the_same_dry_run_key() -> None:
    saved = structlog.get_config()  # each app configures structlog for the process
    try:
        legacy, new, new_settings = build_resync_apps("key-123")
    finally:
        structlog.configure(**saved)
    assert legacy.extensions["resync_legacy"].settings.dry_run_key == "key-123"
    assert new_settings.dry_run_key == "key-123"
    assert new.state.settings.dry_run_key == "key-123"


@pytest.mark.parametrize(
    ("url", "poll_interval"),
    [
        pytest.param("sqlite:///{tmp}/flags.db", 0.05, id="sqlite-polls-as-configured"),
        pytest.param("redis://127.0.0.1:6379/15", 1.0, id="redis-keeps-its-fallback"),
        pytest.param(
            "postgresql://postgres@127.0.0.1/test", 1.0, id="postgresql-keeps-its-fallback"
        ),
    ],
)
def test_the_poll_interval_setting_only_speeds_up_stores_without_push(
    tmp_path: Path, url: str, poll_interval: float
) -> None:
    settings = ProxySettings(
        flag_store_url=url.format(tmp=tmp_path),
        poll_interval=0.05,
        mismatch_db=tmp_path / "mismatches.db",
    )
    saved = structlog.get_config()  # each app configures structlog for the process
    try:
        proxy = create_resync_proxy(settings)
    finally:
        structlog.configure(**saved)
    assert proxy.store.poll_interval == poll_interval


@pytest.mark.parametrize(
    ("overrides", "learn_noise", "timeout"),
    [
        pytest.param({}, False, 10.0, id="defaults"),
        pytest.param(
            {"shadow_learn_noise": True, "shadow_timeout": 2.5}, True, 2.5, id="configured"
        ),
    ],
)
def test_the_shadow_runner_gets_the_noise_learning_and_timeout_settings(
    tmp_path: Path, overrides: dict[str, Any], learn_noise: bool, timeout: float
) -> None:
    settings = ProxySettings(
        flag_store_url=f"sqlite:///{tmp_path / 'flags.db'}",
        mismatch_db=tmp_path / "mismatches.db",
        **overrides,
    )
    saved = structlog.get_config()  # each app configures structlog for the process
    try:
        proxy = create_resync_proxy(settings)
    finally:
        structlog.configure(**saved)
    assert (proxy.shadow_runner.learn_noise, proxy.shadow_runner.timeout) == (learn_noise, timeout)


# ``resync-strangler serve`` end to end -------------------------------------------------------


@pytest.fixture(scope="module")
def served(resync_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRANGLER_", "RESYNC_"))}
    env.update(
        {
            "RESYNC_ENV": "test",
            "RESYNC_DATABASE_URL": resync_db,
            "RESYNC_TWS_URL": f"http://127.0.0.1:{free_port()}/twsd",
            "STRANGLER_FLAG_STORE_URL": f"sqlite:///{folder / 'flags.db'}",
            "STRANGLER_MISMATCH_DB": str(folder / "mismatches.db"),
            "STRANGLER_POLL_INTERVAL": "0.1",
        }
    )
    log = folder / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "proxy", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"serve exited: {log.read_text()}")
            try:
                if httpx.get(f"{base_url}/_strangler/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start: {log.read_text()}")
            time.sleep(0.1)
        yield base_url, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _login(http: httpx.Client, username: str) -> dict[str, str]:
    response = http.post(
        "/api/v1/auth/login", json={"username": username, "password": PASSWORDS[username]}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_serve_prints_how_to_flip_a_route(served: tuple[str, Path]) -> None:
    base_url, log = served
    text = log.read_text()
    assert 'resync-strangler set "GET /api/v1/agents" new --reason' in text
    assert f"curl -X POST {base_url}/_strangler/routes" in text


def test_serve_runs_both_apps_behind_one_url_and_flips_routes(served: tuple[str, Path]) -> None:
    base_url, _ = served
    with httpx.Client(base_url=base_url, timeout=10) as http:
        admin = _login(http, "admin")
        routes = http.get("/_strangler/routes", headers=admin).json()
        modes = {route["route"]: route["mode"] for route in routes["routes"]}
        assert routes["version"] == 1  # the flag file, imported at first start
        assert modes["GET /api/v1/agents"] == "legacy"
        assert modes["WS /api/v1/ws/chat/{agent_id}"] == "new"

        legacy = http.get("/api/v1/agents", headers=admin)
        assert legacy.headers["x-served-by"] == "legacy"
        flipped = http.post(
            "/_strangler/routes",
            json={"route": "GET /api/v1/agents", "mode": "new", "reason": "test"},
            headers=admin,
        )
        assert flipped.json()["mode"] == "new"
        new = http.get("/api/v1/agents", headers=admin)
        assert new.headers["x-served-by"] == "new"
        assert new.json() == legacy.json()  # parity on this route, as the contract wants
        assert new.headers["x-request-id"] != legacy.headers["x-request-id"]

        viewer = _login(http, "viewer")
        assert http.get("/_strangler/routes", headers=viewer).status_code == 403


def test_a_logged_out_admin_token_no_longer_opens_the_admin_api(served: tuple[str, Path]) -> None:
    base_url, _ = served
    with httpx.Client(base_url=base_url, timeout=10) as http:
        admin = _login(http, "admin")
        assert http.get("/_strangler/events", headers=admin).status_code == 200
        assert http.post("/api/v1/auth/logout", headers=admin).status_code == 204
        assert http.get("/_strangler/events", headers=admin).status_code == 401


def test_shadowing_a_route_compares_both_apps(served: tuple[str, Path]) -> None:
    base_url, _ = served
    with httpx.Client(base_url=base_url, timeout=10) as http:
        admin = _login(http, "admin")
        http.post(
            "/_strangler/routes",
            json={"route": "GET /api/v1/agents/{agent_id}", "mode": "shadow", "reason": "t"},
            headers=admin,
        )
        for _ in range(3):
            response = http.get("/api/v1/agents/tws-general", headers=admin)
            assert response.headers["x-served-by"] == "legacy"
        deadline = time.monotonic() + 10
        shadow: dict[str, int] = {}
        while time.monotonic() < deadline:
            stats = http.get("/_strangler/stats", headers=admin).json()["routes"]
            shadow = stats.get("GET /api/v1/agents/{agent_id}", {}).get("shadow", {})
            if sum(shadow.values()) >= 3:
                break
            time.sleep(0.05)
        assert shadow["match"] == 3, shadow


def test_the_chat_websocket_reaches_the_new_app_through_the_proxy(
    served: tuple[str, Path],
) -> None:
    import json

    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    base_url, _ = served
    with httpx.Client(base_url=base_url, timeout=10) as http:
        token = _login(http, "admin")["Authorization"].removeprefix("Bearer ")
    url = base_url.replace("http://", "ws://") + "/api/v1/ws/chat/tws-general"
    with connect(url, open_timeout=10) as socket:
        assert socket.response is not None
        assert socket.response.headers["x-served-by"] == "new"
        socket.send(json.dumps({"type": "auth", "token": token}))
        socket.send(json.dumps({"type": "ping"}))
        assert json.loads(socket.recv(timeout=10)) == {"type": "pong"}
    with connect(url, open_timeout=10) as socket:
        socket.send(json.dumps({"type": "auth", "token": "forged"}))
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def test_serve_freezes_the_startup_heap_of_its_worker(served: tuple[str, Path]) -> None:
    base_url, log = served
    started = [
        json.loads(line)
        for line in log.read_text().splitlines()
        if line.startswith("{") and '"proxy_started"' in line
    ]
    assert len(started) == 1
    # Both apps, their routers and every imported module: far more than a bare interpreter.
    assert started[0]["gc_frozen_objects"] > 50_000
    exposition = httpx.get(f"{base_url}/metrics", timeout=10).text
    gauge = [
        line for line in exposition.splitlines() if line.startswith("strangler_gc_frozen_objects ")
    ]
    assert len(gauge) == 1
    # Frozen objects are still freed when their last reference goes, so the count only drops.
    assert 50_000 < float(gauge[0].split()[1]) <= started[0]["gc_frozen_objects"]
