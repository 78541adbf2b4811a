"""Keep bearer tokens out of the FastAPI app's log lines, uvicorn's included.

A client may put a token in the URL: a JWT as a path segment (``/x/<jwt>``), or a query
parameter named like a secret (``?token=``, ``?access_token=``, ``?password=``). The access line
logs the path, so without this a reader of the logs could act as that user. :func:`redact_target`
rewrites such values to ``[REDACTED]``; :func:`redact_event` applies it to every structlog event
(``path``-like fields always, other text when it holds a token's marks). The app keeps its own
copy of these rules (it shares nothing with the legacy app or the proxy), with the same shapes:
a JWT, a run of 32 or more base64url characters mixing upper case, lower case and digits, and a
secret-named query parameter.
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from typing import Any

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "install_uvicorn_redaction",
    "redact_event",
    "redact_target",
]

REDACTED = "[REDACTED]"
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_LONG_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{32,}(?![A-Za-z0-9_-])")
_QUERY_PAIR = re.compile(r"([?&;])([^=&;#\s\"']+)=([^&;#\s\"']*)")
_SECRET_NAME = re.compile(
    r"(^|_)(password|passwd|pwd|secret|token|access_token|refresh_token|id_token|api_key|"
    r"apikey|authorization|credentials?|client_secret)($|_)"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_MIXED = (re.compile(r"[A-Z]"), re.compile(r"[a-z]"), re.compile(r"[0-9]"))
_TARGET_KEYS = frozenset({"path", "raw_path", "query", "query_string", "url", "target"})
_HINTS = ("eyJ", "earer", "=")


def _opaque(match: re.Match[str]) -> str:
    run = match.group(0)
    return REDACTED if all(kind.search(run) for kind in _MIXED) else run


def _query_pair(match: re.Match[str]) -> str:
    separator, name, value = match.groups()
    key = name.lower().replace("-", "_")
    if value and key != "token_type" and _SECRET_NAME.search(key):
        return f"{separator}{name}={REDACTED}"
    return match.group(0)


def redact_target(text: str) -> str:
    """Replace bearer-like values in a path, a query string or a line quoting them."""
    if not text:
        return text
    if "=" in text:
        text = _QUERY_PAIR.sub(_query_pair, text)
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    if "earer" in text or "asic" in text:
        text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    if len(text) >= 32:
        text = _LONG_TOKEN.sub(_opaque, text)
    return text


def redact_event(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
    """structlog processor: no token in any text field of a log line."""
    for key, value in event.items():
        if isinstance(value, str) and (key in _TARGET_KEYS or any(h in value for h in _HINTS)):
            event[key] = redact_target(value)
    return event


class RedactingFilter(logging.Filter):
    """Redact a standard-library record's message and arguments in place (types kept).

    uvicorn logs the whole request target: its access line, and its ``WebSocket /path?token=...
    [accepted]`` line, which is how a browser client that authenticates by query would leak its
    token. uvicorn's formatters unpack ``record.args``, so only string arguments are rewritten.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_target(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_target(a) if isinstance(a, str) else a for a in record.args)
        return True


def install_uvicorn_redaction() -> None:
    """Attach :class:`RedactingFilter` to uvicorn's loggers, once each."""
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
