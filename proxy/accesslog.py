"""Write one structured line per request the proxy dispatches, and configure structlog once.

The line carries the request id the apps log too, the route key the request matched and the side
that answered, so one ``grep`` over the proxy's and both apps' logs follows a request through.

The access logger is a structlog logger with its own short processor chain and an output that
does not flush per line: on the hot path a flush is a system call per request, which costs more
than everything else the proxy does. The proxy flushes it every half second and at shutdown;
an interactive terminal is flushed at once.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Any, TextIO

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
        # Not cached: a cached logger keeps the processors it first saw, so a later
        # structlog.testing.capture_logs() (or another app's configuration) would miss it.
        cache_logger_on_first_use=False,
    )


class _LineWriter:
    """A structlog output that writes lines to a stream and leaves flushing to its owner."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        # isatty() is a system call: ask once per stream, not once per line.
        self._last: TextIO | None = None
        self._interactive = False

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stdout

    def msg(self, message: str) -> None:
        stream = self.stream
        stream.write(message + "\n")
        if stream is not self._last:
            self._last = stream
            try:
                self._interactive = stream.isatty()
            except (OSError, ValueError):
                self._interactive = False
        if self._interactive:
            stream.flush()

    info = msg


class AccessLog:
    """Log ``{"event": "request", "app": "proxy", ...}`` for each dispatched request.

    ``stream`` defaults to the process's stdout at the time of writing.
    """

    def __init__(self, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self._writer = _LineWriter(stream)
        # A bound logger built once, with its own processors: the global structlog configuration
        # (an app's, or capture_logs()) never applies to it, so a lazy proxy that rebinds on
        # every call (~20 µs a request) would buy nothing.
        # (Typed as the FilteringBoundLogger protocol; the class it returns takes these arguments.)
        wrapper_class: Any = structlog.make_filtering_bound_logger(logging.INFO)
        self._logger: Any = wrapper_class(
            self._writer,
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.JSONRenderer(),
            ],
            context={},
        )

    def flush(self) -> None:
        """Push buffered lines to the stream's destination."""
        # A closed or broken stream must not stop the proxy.
        with contextlib.suppress(OSError, ValueError):
            self._writer.stream.flush()

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
