"""Carry the TWS client's requests over aiohttp's connection pool.

The app talks to TWS through one ``httpx.AsyncClient`` (its request/response model, auth and
timeouts), but httpcore's asyncio pool costs a few milliseconds of CPU per request, which made
TWS-bound endpoints slower than the legacy app's threads. This transport keeps the httpx
interface and hands the I/O to one ``aiohttp.ClientSession`` (already a project dependency),
whose connector is an order of magnitude cheaper. Failures are raised as the httpx exceptions
the TWS client already translates: timeouts as ``httpx.TimeoutException`` subclasses, refused
or reset connections as ``httpx.TransportError`` subclasses.
"""

from __future__ import annotations

import aiohttp
import httpx

__all__ = ["AiohttpTransport"]


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport backed by one pooled ``aiohttp.ClientSession``."""

    def __init__(self, *, max_connections: int = 100) -> None:
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        # Created lazily: a ClientSession must be made inside the running event loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300),
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=timeouts.get("pool"),
            sock_connect=timeouts.get("connect"),
            sock_read=timeouts.get("read"),
        )
        try:
            async with self._get_session().request(
                request.method,
                str(request.url),
                headers=list(request.headers.multi_items()),
                data=await request.aread() or None,
                timeout=timeout,
                allow_redirects=False,
            ) as answer:
                content = await answer.read()
                return httpx.Response(
                    status_code=answer.status,
                    headers=[
                        (name, value)
                        for name, value in answer.headers.items()
                        if name.lower() not in ("content-encoding", "transfer-encoding")
                    ],
                    content=content,
                    request=request,
                )
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise httpx.RemoteProtocolError(
                str(exc) or type(exc).__name__, request=request
            ) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
