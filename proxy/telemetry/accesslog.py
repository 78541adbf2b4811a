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
import io
import logging
import sys
from typing import Any, TextIO

import structlog

from proxy.shadow.redaction import redact_target
from proxy.telemetry.logredact import redact_event

__all__ = ["AccessLog", "buffer_stdout", "configure_logging", "flush_stdout"]


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
            redact_event,  # no token in a logged path, query or message
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        # Lines go to whatever sys.stdout is when written, and are not flushed one by one
        # (structlog's WriteLogger flushes every line: a system call per line).
        logger_factory=_stdout_writer,
        # Not cached: a cached logger keeps the processors it first saw, so a later
        # structlog.testing.capture_logs() (or another app's configuration) would miss it.
        cache_logger_on_first_use=False,
    )


def buffer_stdout(chunk_size: int = 64 * 1024) -> bool:
    """Make ``sys.stdout`` gather lines into writes of ``chunk_size`` bytes; false if left as is.

    Under ``PYTHONUNBUFFERED`` (common in containers, and the bench's setting) every log line is a
    ``write()`` on the spot. On the event loop's thread each system call releases the GIL, and
    winning it back from busy legacy threads costs up to a switch interval (5 ms): with routes on
    both sides, the loop (and every request the new app serves) starves. Gathered, the lines go
    out when the buffer fills and when the proxy flushes (every half second, and at shutdown).
    A terminal keeps its line-by-line output.
    """
    stream = sys.stdout
    if not isinstance(stream, io.TextIOWrapper):
        return False
    try:
        if stream.isatty():
            return False
        stream.reconfigure(write_through=False, line_buffering=False)
    except (OSError, ValueError):
        return False
    # How much text TextIOWrapper gathers before it writes (8 KiB by default).
    setattr(stream, "_CHUNK_SIZE", chunk_size)  # noqa: B010  # not in the type stubs
    return True


def flush_stdout() -> None:
    """Flush ``sys.stdout``; a closed or broken stream must not stop the proxy."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stdout.flush()


class _LineWriter:
    """A structlog output that writes lines to a stream and leaves flushing to its owner.

    Debug and info lines wait for the owner's flush; warnings and errors are flushed at once.
    It answers every method name structlog may call, as structlog's own ``WriteLogger`` does.
    """

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

    def urgent(self, message: str) -> None:
        self.msg(message)
        with contextlib.suppress(OSError, ValueError):
            self.stream.flush()

    log = debug = info = msg
    warn = warning = fatal = failure = err = error = critical = exception = urgent


def _stdout_writer(*_args: Any) -> _LineWriter:
    return _STDOUT


_STDOUT = _LineWriter(None)


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
            path=redact_target(path),  # a token in the path must not reach the log
            route=route,
            side=side,
            status=status,
            duration_ms=duration_ms,
            shadow=shadow,
        )
