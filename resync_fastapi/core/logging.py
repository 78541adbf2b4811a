"""Configure structlog once and stamp every request with an id and one log line.

:class:`RequestContextMiddleware` is the app's edge (pure ASGI): it keeps a valid client
``X-Request-ID`` or makes one, binds it into structlog's contextvars for everything logged while
the request runs, echoes it on the response, turns an unhandled exception into the documented
500 problem (Starlette's own error middleware would answer without the request id) and writes
``{"event": "request", "app": "new", ...}`` when the request ends.
"""

from __future__ import annotations

import logging
import os
import re
import time

import structlog
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resync_fastapi.core.exceptions import InternalError
from resync_fastapi.core.log_redaction import install_uvicorn_redaction, redact_event, redact_target
from resync_fastapi.core.responses import REQUEST_ID_SCOPE_KEY, problem_response

__all__ = ["APP_NAME", "RequestContextMiddleware", "configure_logging", "request_id_from"]

APP_NAME = "new"
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")

logger = structlog.get_logger("resync_fastapi")


def configure_logging(level: str = "INFO", *, force: bool = False) -> None:
    """Send structlog's JSON lines to stdout at ``level``.

    Logging is configured once per process: when the app is composed into another process
    (the strangler proxy) whose structlog is already set up, that configuration stays.
    uvicorn's own loggers get the token-redacting filter either way.
    """
    install_uvicorn_redaction()
    if structlog.is_configured() and not force:
        return
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_event,  # no bearer token in a logged path, query or message
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        # One write per line: PrintLogger's print() writes the line and its newline apart, two
        # system calls per request under PYTHONUNBUFFERED. The stream is sys.stdout as it is
        # when the line is written (loggers are not cached).
        logger_factory=structlog.WriteLoggerFactory(),
        cache_logger_on_first_use=False,
    )


def request_id_from(scope: Scope) -> str:
    """Return the client's ``X-Request-ID`` if valid, else 32 fresh random hex digits.

    Repeated headers count as one comma-joined value (as a WSGI server presents them), which
    is never valid: both apps then generate an id. The id is 16 random bytes in hex, the format
    of a uuid4's hex without building a UUID.
    """
    offered: bytes | None = None
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            offered = value if offered is None else offered + b", " + value
    if offered is not None and _VALID_REQUEST_ID.fullmatch(offered):
        return offered.decode("ascii")
    return os.urandom(16).hex()


class RequestContextMiddleware:
    """Bind, echo and log the request id; answer unhandled errors with a 500 problem."""

    def __init__(self, app: ASGIApp, *, app_name: str = APP_NAME) -> None:
        self.app = app
        self.app_name = app_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        scope[REQUEST_ID_SCOPE_KEY] = request_id
        header = (b"x-request-id", request_id.encode("ascii"))
        status = 0
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *(h for h in message.get("headers", ()) if h[0].lower() != b"x-request-id"),
                    header,
                ]
            elif message["type"] == "websocket.accept":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        # What structlog.contextvars.bound_contextvars does, without a generator context manager.
        bound = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            try:
                await self.app(scope, receive, send_with_id)
            except ClientDisconnect:
                # The client left mid-body (or a front's body timeout ended the read, answering
                # 408 itself): there is nobody to answer and nothing went wrong in the app.
                logger.info("client_disconnected", path=redact_target(scope.get("path", "")))
            except Exception:
                logger.exception("unhandled_error", path=redact_target(scope.get("path", "")))
                if scope["type"] != "http" or status:
                    raise
                error = InternalError()
                response = problem_response(
                    scope,
                    status=error.status,
                    slug=error.slug,
                    title=error.title,
                    detail=error.detail,
                )
                await response(scope, receive, send_with_id)
            finally:
                logger.info(
                    "request" if scope["type"] == "http" else "websocket",
                    app=self.app_name,
                    method=scope.get("method", "WS"),
                    path=redact_target(scope.get("path", "")),
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )
        finally:
            structlog.contextvars.reset_contextvars(**bound)
