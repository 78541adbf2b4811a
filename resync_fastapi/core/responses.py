"""Encode JSON exactly as docs/api.md says, and build problem responses.

Compact separators, keys in insertion order, non-ASCII kept, floats as Python writes them: the
legacy app writes the same bytes, so a client cannot tell which side answered.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.types import Scope

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "REQUEST_ID_SCOPE_KEY",
    "EncodedJSONResponse",
    "ResyncJSONResponse",
    "dumps",
    "format_timestamp",
    "problem_body",
    "problem_response",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
REQUEST_ID_SCOPE_KEY = "resync.request_id"


def format_timestamp(value: datetime | None) -> str | None:
    """Render a naive-UTC (or aware) datetime as ``YYYY-MM-DDTHH:MM:SSZ``."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def dumps(content: Any) -> bytes:
    """Serialise ``content`` compactly, UTF-8, without escaping non-ASCII."""
    return json.dumps(content, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
        "utf-8"
    )


class ResyncJSONResponse(JSONResponse):
    """The default response class: the project's JSON encoding."""

    def render(self, content: Any) -> bytes:
        return dumps(content)


class EncodedJSONResponse(Response):
    """A JSON body already encoded (``application/json``), e.g. by pydantic-core.

    ``pydantic_core.to_json`` writes the project's bytes for strings, integers, booleans,
    nulls, lists and objects (compact, UTF-8, keys in order); not for floats (``1e-05`` becomes
    ``1e-5``), so a body that can hold one goes through :func:`dumps` instead.
    """

    media_type = "application/json"


def problem_body(
    scope: Scope,
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the problem object with its keys in the documented order."""
    body: dict[str, Any] = {
        "type": f"urn:resync:problem:{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": scope.get("path", ""),
        "request_id": scope.get(REQUEST_ID_SCOPE_KEY, ""),
    }
    if extra:
        body.update(extra)
    return body


def problem_response(
    scope: Scope,
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> ResyncJSONResponse:
    """Build an ``application/problem+json`` response for the request in ``scope``."""
    return ResyncJSONResponse(
        problem_body(scope, status=status, slug=slug, title=title, detail=detail, extra=extra),
        status_code=status,
        headers=dict(headers or {}),
        media_type=PROBLEM_MEDIA_TYPE,
    )
