"""Write JSON the way the contract fixes it, replacing Flask's default provider.

Flask's provider sorts keys, escapes non-ASCII, writes dates as RFC 822 and appends a newline;
the contract wants compact output in declaration order, raw UTF-8 and RFC 3339 ``Z`` timestamps,
byte for byte what the FastAPI app writes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import Response
from flask.json.provider import JSONProvider

__all__ = [
    "JSON_MIMETYPE",
    "ResyncJSONProvider",
    "dumps",
    "format_timestamp",
    "json_response",
    "no_content",
]

JSON_MIMETYPE = "application/json"


def format_timestamp(value: datetime) -> str:
    """Render a timestamp as ``YYYY-MM-DDTHH:MM:SSZ`` (naive values are UTC already)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_timestamp(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> str:
    """Serialise compactly, keys in insertion order, non-ASCII kept, no NaN."""
    return json.dumps(
        value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_default
    )


def json_response(value: Any, status: int = 200, mimetype: str = JSON_MIMETYPE) -> Response:
    """Answer ``value`` as a JSON body (no trailing newline)."""
    return Response(dumps(value).encode("utf-8"), status=status, mimetype=mimetype)


def no_content() -> Response:
    """Answer 204 with no body and no Content-Type (Werkzeug would add ``text/html``)."""
    response = Response(status=204)
    del response.headers["Content-Type"]
    return response


class ResyncJSONProvider(JSONProvider):
    """Flask JSON provider with the contract's encoding (used by ``jsonify`` and ``app.json``)."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return dumps(obj)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return json.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        return json_response(self._prepare_response_obj(args, kwargs))
