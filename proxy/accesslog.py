"""Write one structured line per request the proxy dispatches, and configure structlog once.

The line carries the request id the apps log too, the route key the request matched and the side
that answered, so one ``grep`` over the proxy's and both apps' logs follows a request through.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

__all__ = ["AccessLog", "configure_logging"]


def configure_logging(level: str = "INFO", *, force: bool = False) -> None:
    """Make structlog write JSON lines to stdout, unless an app already configured it."""
    if structlog.is_configured() and not force:
        return
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )


class AccessLog:
    """Log ``{"event": "request", "app": "proxy", ...}`` for each dispatched request."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._logger: Any = structlog.get_logger("strangler.access")

    def request(
        self,
        *,
        request_id: str,
        method: str,
        path: str,
        route: str | None,
        side: str,
        status: int,
        duration_ms: float,
        shadow: str | None = None,
    ) -> None:
        """Write the access line of one request."""
        if not self.enabled:
            return
        self._logger.info(
            "request",
            app="proxy",
            request_id=request_id,
            method=method,
            path=path,
            route=route,
            side=side,
            status=status,
            duration_ms=duration_ms,
            shadow=shadow,
        )
