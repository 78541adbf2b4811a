"""Give every request an id and log one JSON line for it, at the WSGI edge.

The middleware wraps the whole Flask app, so even an answer Flask itself produces carries
``X-Request-ID``. The id is bound in structlog's contextvars while the app runs and the access
line is written when the body has been sent (a streamed export is timed to its last byte). Only
the method and path are logged: never a query string, a body or a header value, and a token in
the path (``/x/<jwt>``) is logged as ``[REDACTED]`` (:mod:`legacy_flask.log_redaction`).
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import structlog
from werkzeug.wsgi import ClosingIterator

from legacy_flask.log_redaction import redact_event, redact_target

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["REQUEST_ID_KEY", "RequestLogMiddleware", "configure_logging", "new_request_id"]

REQUEST_ID_KEY = "resync.request_id"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

logger = structlog.get_logger("legacy_flask")


def configure_logging(level: str = "INFO") -> None:
    """Configure structlog for JSON lines, unless the host process already did."""
    if structlog.is_configured():
        return
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.dict_tracebacks,
            redact_event,  # no bearer token in a logged path or message
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        # Not cached: a cached logger keeps the processors it first saw, so a later
        # structlog.testing.capture_logs() (or another app's configuration) would miss it.
        cache_logger_on_first_use=False,
    )


def new_request_id(offered: str | None) -> str:
    """Keep a well-formed client request id, else make one."""
    if offered and _VALID_REQUEST_ID.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


class RequestLogMiddleware:
    """WSGI middleware: request id in, ``X-Request-ID`` out, one access log line."""

    def __init__(self, app: WSGIApplication, app_name: str = "legacy") -> None:
        self.app = app
        self.app_name = app_name

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request_id = new_request_id(environ.get("HTTP_X_REQUEST_ID"))
        environ[REQUEST_ID_KEY] = request_id
        started = time.perf_counter()
        seen: dict[str, int] = {}

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["status"] = int(status.split(" ", 1)[0])
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            headers.append(("X-Request-ID", request_id))
            return start_response(status, headers, exc_info)

        def log() -> None:
            logger.info(
                "request",
                app=self.app_name,
                request_id=request_id,
                method=environ.get("REQUEST_METHOD", ""),
                path=redact_target(environ.get("PATH_INFO", "")),
                status=seen.get("status", 500),
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                body = self.app(environ, start)
            except BaseException:
                seen.setdefault("status", 500)
                log()
                raise
        return ClosingIterator(body, [log])
