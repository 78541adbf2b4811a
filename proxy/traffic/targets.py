"""The two sides a replay sends each request to: live deployments, or two apps in-process.

:class:`LiveTarget` reaches two running deployments over HTTP (``--legacy-url``/``--new-url``).
It cannot see their databases, so a write is sent only with the deployments' dry-run key
(``X-Resync-Dry-Run``: each app handles the request and rolls its transaction back) and skipped
otherwise. :class:`AppPairTarget` calls two ASGI apps in-process (the legacy WSGI app through
the proxy's own a2wsgi bridge), each on its own throwaway copy of one database: writes land on
the copies only, and after each write the rows of the two copies are compared.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol
from urllib.parse import unquote

import httpx

from proxy.shadow.capture import CapturedResponse, call_asgi
from proxy.shadow.differ import Comparison
from proxy.shadow.runner import DRY_RUN_HEADER
from proxy.traffic.requests import ReplayRequest
from proxy.types import ASGIApp

__all__ = [
    "WRITES_COPIES",
    "WRITES_DRY_RUN",
    "WRITES_SKIP",
    "AppPairTarget",
    "LiveTarget",
    "ReplayTarget",
]

#: How a target treats writes: applied to throwaway copies, sent rolled back, or not sent.
WRITES_COPIES, WRITES_DRY_RUN, WRITES_SKIP = "copies", "dry-run", "skip"
CLIENT = ("127.0.0.1", 50000)  # both sides see the same peer (login lockouts key on it)
BODY_LIMIT = 64 * 1024 * 1024
SIDES = ("legacy", "new")


class ReplayTarget(Protocol):
    """Where a replay sends requests."""

    description: str
    writes: str

    def token_for(self, role: str) -> str | None:
        """Return an access token of ``role`` (None: requests of that role are skipped)."""
        ...

    async def send(
        self, side: str, request: ReplayRequest, authorization: str | None
    ) -> CapturedResponse:
        """Send ``request`` to ``side`` ("legacy" or "new") and return the whole answer."""
        ...

    async def state_difference(self) -> Comparison | None:
        """Compare the two sides' database rows now (None when the target cannot see them)."""
        ...

    async def aclose(self) -> None:
        """Release what the target holds."""
        ...


class LiveTarget:
    """Two running deployments over HTTP, with fixed tokens per role."""

    def __init__(
        self,
        legacy_url: str,
        new_url: str,
        tokens: Mapping[str, str],
        *,
        dry_run_key: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.urls = {"legacy": legacy_url.rstrip("/"), "new": new_url.rstrip("/")}
        self.tokens = dict(tokens)
        self.dry_run_key = dry_run_key or None
        self.writes = WRITES_DRY_RUN if self.dry_run_key else WRITES_SKIP
        self.description = f"{self.urls['legacy']} (legacy) vs {self.urls['new']} (new)"
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    def token_for(self, role: str) -> str | None:
        return self.tokens.get(role)

    async def send(
        self, side: str, request: ReplayRequest, authorization: str | None
    ) -> CapturedResponse:
        headers = list(request.headers)
        if authorization is not None:
            headers.append(("authorization", authorization))
        if not request.safe and self.dry_run_key:
            headers.append((DRY_RUN_HEADER.decode(), self.dry_run_key))
        # The raw path goes out as captured (already percent-encoded).
        url = httpx.URL(self.urls[side] + request.target)
        built = self._client.build_request(
            request.method, url, headers=headers, content=request.body or None
        )
        response = await self._client.send(built)
        await response.aread()
        return CapturedResponse.from_httpx(response)

    async def state_difference(self) -> Comparison | None:
        return None

    async def aclose(self) -> None:
        await self._client.aclose()


def build_scope(
    request: ReplayRequest, authorization: str | None, state: Mapping[str, Any]
) -> dict[str, Any]:
    """Build the HTTP scope uvicorn would for the captured request."""
    raw_path = request.raw_path.encode("latin-1")
    headers = [(b"host", b"replay.local")]
    headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in request.headers]
    if authorization is not None:
        headers.append((b"authorization", authorization.encode("latin-1")))
    if request.body or not request.safe:
        headers.append((b"content-length", str(len(request.body)).encode("ascii")))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": "http",
        "path": unquote(request.raw_path),
        "raw_path": raw_path,
        "query_string": request.query.encode("latin-1"),
        "root_path": "",
        "headers": headers,
        "client": CLIENT,
        "server": ("replay.local", 80),
        "state": dict(state),
    }


class AppPairTarget:
    """Two ASGI apps in-process, each on its own database copy.

    ``mint(role)`` returns a fresh access token per call (a new ``jti`` and ``sid`` each, so a
    replayed logout revokes only its own token). ``state_check`` returns the comparison of the
    two databases' rows; ``on_close`` releases apps and copies.
    """

    writes = WRITES_COPIES

    def __init__(
        self,
        apps: Mapping[str, ASGIApp],
        *,
        mint: Callable[[str], str | None],
        state_check: Callable[[], Comparison] | None = None,
        states: Mapping[str, Mapping[str, Any]] | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
        description: str = "in-process",
    ) -> None:
        self.apps = dict(apps)
        self._mint = mint
        self._state_check = state_check
        self._states = {side: dict((states or {}).get(side, {})) for side in SIDES}
        self._on_close = on_close
        self.description = description

    def token_for(self, role: str) -> str | None:
        return self._mint(role)

    async def send(
        self, side: str, request: ReplayRequest, authorization: str | None
    ) -> CapturedResponse:
        scope = build_scope(request, authorization, self._states[side])
        captured = await call_asgi(self.apps[side], scope, request.body, limit=BODY_LIMIT)
        if request.method == "HEAD":
            return CapturedResponse(captured.status, captured.headers, b"", captured.truncated)
        return captured

    async def state_difference(self) -> Comparison | None:
        if self._state_check is None:
            return None
        return await asyncio.to_thread(self._state_check)

    async def aclose(self) -> None:
        if self._on_close is not None:
            await self._on_close()
