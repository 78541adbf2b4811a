"""Build the ``/twsd`` sub-application: the TWS data paths behind Basic auth and faults.

Middleware order (outermost first): faults, then auth. Latency and faults model the network
and the server, so they hit a request before its credentials are even looked at.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import socket
import struct

from aiohttp import web
from aiohttp.typedefs import Handler

from tws_sim.catalog import Catalog, JobQuery, encode
from tws_sim.errors import TwsSimError
from tws_sim.faults import Fault, FaultInjector

__all__ = ["create_twsd_app"]

JSON = "application/json"
CATALOG = web.AppKey("catalog", Catalog)
INJECTOR = web.AppKey("injector", FaultInjector)
CREDENTIALS = web.AppKey("credentials", bytes)

_UNAUTHORIZED = b'{"error":"authentication required"}'
_INJECTED = b'{"error":"injected failure"}'
_NOT_FOUND = b'{"error":"job not found"}'
_LINGER_ZERO = struct.pack("ii", 1, 0)


def _json(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type=JSON)


def _reset_connection(request: web.Request) -> None:
    """Abort the TCP connection so the client sees a reset (RST), not a clean close."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
    transport.abort()


@web.middleware
async def faults_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Delay the request, then maybe fail it, stall it or reset its connection."""
    plan = request.app[INJECTOR].draw()
    if plan.delay:
        await asyncio.sleep(plan.delay)
    if plan.fault is Fault.ERROR:
        return _json(_INJECTED, status=500)
    if plan.fault is Fault.TIMEOUT:
        await asyncio.sleep(plan.timeout_seconds)
    elif plan.fault is Fault.RESET:
        _reset_connection(request)
        # Nothing can be written now. aiohttp treats a cancelled handler as a client that went
        # away mid-request: it drops the request quietly and keeps serving.
        raise asyncio.CancelledError
    return await handler(request)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer 401 unless the request carries the simulator's Basic credentials."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    try:
        given = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        given = b""
    expected = request.app[CREDENTIALS]
    if scheme.lower() != "basic" or not hmac.compare_digest(given, expected):
        response = _json(_UNAUTHORIZED, status=401)
        response.headers["WWW-Authenticate"] = 'Basic realm="twsd"'
        return response
    return await handler(request)


async def plan_current(request: web.Request) -> web.Response:
    """Answer the current plan."""
    return _json(request.app[CATALOG].plan)


async def critical_path(request: web.Request) -> web.Response:
    """Answer the current plan's critical path."""
    return _json(request.app[CATALOG].critical_path)


async def workstations(request: web.Request) -> web.Response:
    """Answer every workstation, ordered by name."""
    return _json(request.app[CATALOG].workstations)


async def job_list(request: web.Request) -> web.Response:
    """Answer a filtered page of jobs, or 400 on a bad query parameter."""
    try:
        query = JobQuery.parse(request.query)
    except TwsSimError as exc:
        return _json(b'{"error":%s}' % encode(exc.message), status=exc.status)
    return _json(request.app[CATALOG].job_list(query))


def _per_job(attribute: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        body = getattr(request.app[CATALOG], attribute).get(request.match_info["job_id"])
        return _json(_NOT_FOUND, status=404) if body is None else _json(body)

    handler.__name__ = f"job_{attribute}"
    handler.__doc__ = f"Answer one job's {attribute}, or 404 for an unknown id."
    return handler


def create_twsd_app(
    catalog: Catalog, injector: FaultInjector, user: str, password: str
) -> web.Application:
    """Build the sub-application mounted at ``/twsd``."""
    app = web.Application(middlewares=[faults_middleware, auth_middleware])
    app[CATALOG] = catalog
    app[INJECTOR] = injector
    app[CREDENTIALS] = f"{user}:{password}".encode()
    app.router.add_get("/plan/current", plan_current)
    app.router.add_get("/plan/current/criticalpath", critical_path)
    app.router.add_get("/model/workstation", workstations)
    app.router.add_get("/model/jobdefinition", job_list)
    app.router.add_get("/model/jobdefinition/{job_id}", _per_job("jobs"))
    app.router.add_get("/model/jobdefinition/{job_id}/history", _per_job("histories"))
    app.router.add_get("/model/jobdefinition/{job_id}/log", _per_job("logs"))
    app.router.add_get("/model/jobdefinition/{job_id}/dependencies", _per_job("dependencies"))
    return app
