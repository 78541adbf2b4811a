"""Drive the FastAPI app from synchronous tests: a running lifespan, tokens, database snapshots.

:class:`AppHarness` runs the app's lifespan in a blocking portal (an event loop in a thread) and
sends requests through ``httpx.ASGITransport``, so fixtures can be module-scoped and tests stay
plain functions. Tokens are minted with pyjwt exactly as the contract describes (not with the
app's own code), which keeps argon2 out of most tests and proves tokens from any implementation
are accepted.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack
from datetime import UTC, datetime
from functools import partial
from typing import Any

import anyio
import httpx
import jwt
import sqlalchemy as sa
from anyio.from_thread import BlockingPortal, start_blocking_portal
from argon2 import PasswordHasher
from fastapi import FastAPI

import migrations
from resync_fastapi import Settings, create_app

SECRET = "resync-fastapi-test-secret-key-0123456789abcdef"
OTHER_SECRET = "some-other-secret-key-that-is-long-enough-0123"
PASSWORDS = {
    "admin": "resync-admin-dev",
    "operator": "resync-operator-dev",
    "viewer": "resync-viewer-dev",
}
TABLES = (
    "users",
    "revoked_tokens",
    "login_attempts",
    "agents",
    "chat_messages",
    "audit_items",
    "rag_files",
    "rag_chunks",
)
DRY_RUN_KEY = "shadow-dry-run-key"


def settings_for(database_url: str, tws_url: str, **overrides: Any) -> Settings:
    """Settings for a test app on ``database_url`` talking to ``tws_url``."""
    values: dict[str, Any] = {
        "env": "test",
        "secret_key": SECRET,
        "database_url": database_url,
        "tws_url": tws_url,
        "tws_timeout": 5.0,
        "dry_run_key": DRY_RUN_KEY,
        # Tests here change users and revocations with direct SQL and expect the very next
        # request to see it: they read the database every time. The cache (on by default) has
        # its own tests, tests/resync_fastapi/services/test_auth_cache.py.
        "auth_cache_seconds": 0.0,
    }
    values.update(overrides)
    return Settings(**values)


def mint(
    username: str,
    role: str | None = None,
    *,
    typ: str = "access",
    secret: str = SECRET,
    algorithm: str = "HS256",
    lifetime: int = 1800,
    issued_ago: int = 0,
    sid: str | None = None,
    drop: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    """Sign a token the way the contract describes (override or drop any claim)."""
    now = int(time.time()) - issued_ago
    payload: dict[str, Any] = {
        "iss": "resync",
        "aud": "resync-api",
        "sub": username,
        "role": role or username,
        "typ": typ,
        "jti": uuid.uuid4().hex,
        "sid": sid or uuid.uuid4().hex,
        "iat": now,
        "exp": now + lifetime,
    }
    payload.update(claims)
    for name in drop:
        payload.pop(name, None)
    return jwt.encode(payload, secret, algorithm=algorithm)


def sync_engine(url: str) -> sa.Engine:
    """A throwaway synchronous engine on the plain ``url`` (for fixtures and snapshots)."""
    return sa.create_engine(migrations.sync_engine_url(url), poolclass=sa.pool.NullPool)


def cheapen_password_hashes(url: str) -> None:
    """Re-hash the demo users' passwords with tiny argon2id costs (verification follows the
    parameters stored in the hash, so logins in tests take a millisecond)."""
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    engine = sync_engine(url)
    try:
        with engine.begin() as conn:
            for username, password in PASSWORDS.items():
                conn.execute(
                    sa.text("UPDATE users SET password_hash = :h WHERE username = :u"),
                    {"h": hasher.hash(password), "u": username},
                )
    finally:
        engine.dispose()


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: equal snapshots mean an unchanged database."""
    engine = sync_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table: sorted(
                    (tuple(row) for row in conn.execute(sa.text(f"SELECT * FROM {table}"))),  # noqa: S608
                    key=repr,
                )
                for table in TABLES
            }
    finally:
        engine.dispose()


def execute(url: str, sql: str, **params: Any) -> list[Any]:
    """Run one SQL statement on ``url`` and return its rows (empty for non-queries)."""
    engine = sync_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(sql), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def create_user(url: str, role: str, prefix: str = "user") -> str:
    """Insert a user with a unique name (no usable password: tests mint its tokens)."""
    username = f"{prefix}_{uuid.uuid4().hex[:8]}"
    execute(
        url,
        "INSERT INTO users (username, password_hash, role, full_name, created_at)"
        " VALUES (:u, 'not-a-hash', :r, '', :c)",
        u=username,
        r=role,
        c=datetime.now(UTC).replace(tzinfo=None, microsecond=0),
    )
    return username


class AppHarness(AbstractContextManager["AppHarness"]):
    """A started app (lifespan running) and a synchronous way to call it."""

    def __init__(self, settings: Settings, *, app: FastAPI | None = None) -> None:
        self.settings = settings
        self.app = app or create_app(settings)
        self._stack = ExitStack()
        self.portal: BlockingPortal | None = None
        self._clients: dict[str, httpx.AsyncClient] = {}

    def __enter__(self) -> AppHarness:
        self.portal = self._stack.enter_context(start_blocking_portal("asyncio"))
        self._stack.enter_context(
            self.portal.wrap_async_context_manager(self.app.router.lifespan_context(self.app))
        )
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self.portal is not None
        for client in self._clients.values():
            self.portal.call(client.aclose)
        self._stack.close()

    def client_for(self, address: str = "127.0.0.1") -> httpx.AsyncClient:
        """An ASGI client whose requests come from ``address``."""
        if address not in self._clients:
            self._clients[address] = httpx.AsyncClient(
                transport=httpx.ASGITransport(
                    app=self.app, client=(address, 40000), raise_app_exceptions=False
                ),
                base_url="http://testserver",
            )
        return self._clients[address]

    def request(
        self,
        method: str,
        url: str,
        *,
        token: str | None = None,
        client: str = "127.0.0.1",
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request (``token`` becomes a bearer ``Authorization``)."""
        assert self.portal is not None
        headers = dict(kwargs.pop("headers", None) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        call = partial(self.client_for(client).request, method, url, headers=headers, **kwargs)
        return self.portal.call(call)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def raw_get(self, path: str, *, token: str) -> tuple[dict[str, Any], list[bytes]]:
        """Call the ASGI app directly and return the response start and each body message.

        ``httpx.ASGITransport`` buffers the whole body, which would hide whether a response
        is streamed; here every ``http.response.body`` message stays separate.
        """
        assert self.portal is not None
        raw_path, _, query = path.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": raw_path,
            "raw_path": raw_path.encode(),
            "root_path": "",
            "query_string": query.encode(),
            "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {token}".encode())],
            "client": ("127.0.0.1", 40000),
            "server": ("testserver", 80),
            "state": {},
        }
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def run() -> None:
            finished = anyio.Event()
            requested = False

            async def receive() -> dict[str, Any]:
                nonlocal requested
                if not requested:
                    requested = True
                    return {"type": "http.request", "body": b"", "more_body": False}
                await finished.wait()  # the client stays connected until the body ends
                return {"type": "http.disconnect"}

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    start.update(message)
                elif message["type"] == "http.response.body":
                    if message.get("body"):
                        chunks.append(message["body"])
                    if not message.get("more_body", False):
                        finished.set()

            await self.app(scope, receive, send)

        self.portal.call(run)
        return start, chunks


def assert_problem(
    response: httpx.Response, status: int, slug: str, detail: str | None = None
) -> dict[str, Any]:
    """Check ``response`` is the documented problem; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert list(body)[:6] == ["type", "title", "status", "detail", "instance", "request_id"]
    assert body["type"] == f"urn:resync:problem:{slug}"
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["instance"] == response.request.url.path
    if detail is not None:
        assert body["detail"] == detail
    return body


def field_errors(response: httpx.Response) -> list[tuple[str, str]]:
    """The ``(field, code)`` pairs of a 400 validation problem."""
    body = assert_problem(response, 400, "validation")
    return [(error["field"], error["code"]) for error in body["errors"]]


def tokens_for_demo_users() -> dict[str, str]:
    """An access token for each seeded user."""
    return {name: mint(name) for name in PASSWORDS}


def iter_tables() -> Iterator[str]:
    yield from TABLES
