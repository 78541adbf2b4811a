"""Keep tokens out of every log line the proxy process writes, uvicorn's own included.

A bearer token can reach a log through the request target: a client that puts a JWT in a path
(``/x/<jwt>``) or a WebSocket client that authenticates with ``?token=...``. The proxy's and the
apps' access lines log the path, and uvicorn's ``WebSocket /path?query [accepted]`` line and its
access lines log the whole target. Whoever can read the logs could then act as that user for
the token's lifetime.

* :func:`redact_event` is a structlog processor: ``path``-like fields through
  :func:`proxy.shadow.redaction.redact_target`, any other text value through it only when it
  looks like it holds a token (a JWT, ``Bearer ...``, ``token=``).
* :class:`RedactingFilter` is a :class:`logging.Filter` for the standard-library loggers
  (``uvicorn.error``, ``uvicorn.access``): it rewrites the record's message and arguments in
  place, keeping their types, so uvicorn's formatters still unpack them.

:func:`install_log_redaction` puts the filter on uvicorn's loggers (idempotent).
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from proxy.shadow.redaction import redact_target

__all__ = ["UVICORN_LOGGERS", "RedactingFilter", "install_log_redaction", "redact_event"]

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
_TARGET_KEYS = frozenset({"path", "raw_path", "query", "query_string", "url", "target", "location"})
_HINTS = ("eyJ", "earer", "=")


def _scrub(value: str) -> str:
    return redact_target(value) if any(hint in value for hint in _HINTS) else value


def redact_event(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
    """structlog processor: redact bearer-like values in an event's text fields."""
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = redact_target(value) if key in _TARGET_KEYS else _scrub(value)
    return event


class RedactingFilter(logging.Filter):
    """Redact bearer-like values in a standard-library log record; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_target(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(redact_target(a) if isinstance(a, str) else a for a in args)
        elif isinstance(args, dict):
            record.args = {
                key: redact_target(value) if isinstance(value, str) else value
                for key, value in args.items()
            }
        return True


_FILTER = RedactingFilter()


def install_log_redaction(names: tuple[str, ...] = UVICORN_LOGGERS) -> None:
    """Attach the redacting filter to the named loggers (once each)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(_FILTER)
