"""Carry the TWS client's GETs over one pooled ``aiohttp.ClientSession``.

The app first talked to TWS through ``httpx.AsyncClient``; httpcore's pool cost milliseconds of
CPU per call, and even over an aiohttp-backed transport httpx's own request building (URL
merging, header and cookie models, the auth flow) was about a fifth of a TWS-bound request's
CPU. The TWS client only ever sends authenticated GETs and reads status and body, so this
module does exactly that on aiohttp (already a project dependency). Failures are raised as the
problems the API answers with: a timeout (connecting, waiting for a pooled connection, or
reading) is :class:`UpstreamTimeout` (504); a refused, reset or broken connection is
:class:`UpstreamError` (502).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

import aiohttp

from resync_fastapi.core.exceptions import UpstreamError, UpstreamTimeout

__all__ = ["TwsHttp"]


class TwsHttp:
    """GET JSON from TWS: one base URL, HTTP basic auth, one timeout, one connection pool."""

    def __init__(
        self, base_url: str, user: str, password: str, timeout: float, max_connections: int
    ) -> None:
        self._base_url = base_url.rstrip("/") + "/"
        credentials = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self._headers = {"Accept": "application/json", "Authorization": f"Basic {credentials}"}
        # Each phase gets the whole timeout, as httpx.Timeout(timeout) gave it: waiting for a
        # pooled connection or connecting (connect), opening the socket, and each read.
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout, sock_connect=timeout, sock_read=timeout
        )
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    @property
    def is_closed(self) -> bool:
        """True once :meth:`aclose` ran."""
        return self._closed

    def _get_session(self) -> aiohttp.ClientSession:
        # Created lazily: a ClientSession must be made inside the running event loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300),
                auto_decompress=True,
                timeout=self._timeout,
            )
        return self._session

    async def get(
        self, path: str, params: Mapping[str, str | int] | None = None
    ) -> tuple[int, bytes]:
        """GET ``path`` (relative to the base URL); return the status and the whole body."""
        try:
            async with self._get_session().get(
                self._base_url + path.lstrip("/"),
                params=params,
                headers=self._headers,
                allow_redirects=False,
            ) as answer:
                return answer.status, await answer.read()
        except TimeoutError as exc:  # aiohttp's timeouts all derive from it
            raise UpstreamTimeout() from exc
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise UpstreamError("TWS is unreachable.") from exc

    async def aclose(self) -> None:
        """Close the pool; the client is not used after this."""
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None
