"""Answer admin API errors as RFC 9457 problem documents shaped like the Resync apps' own.

Body keys come in the team's order (``type``, ``title``, ``status``, ``detail``, ``instance``,
``request_id``, then ``errors`` or extra members), written compact and unescaped, with
``Content-Type: application/problem+json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.responses import Response

from proxy.errors import AdminProblem

__all__ = ["PROBLEMS", "AdminProblem", "FieldError", "json_bytes", "problem_response"]

PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("validation", "Validation failed"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    408: ("request-timeout", "Request timeout"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    431: ("header-too-large", "Request header fields too large"),
    500: ("internal", "Internal server error"),
    503: ("unavailable", "Service unavailable"),
}

FieldError = Mapping[str, str]


def json_bytes(value: Any) -> bytes:
    """Encode JSON the team's way: compact, UTF-8, keys in insertion order."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def problem_response(
    status: int,
    detail: str,
    *,
    instance: str,
    request_id: str | None,
    errors: Sequence[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    """Build the problem response for ``status``."""
    slug, title = PROBLEMS.get(status, ("internal", "Internal server error"))
    body: dict[str, Any] = {
        "type": f"urn:resync:problem:{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "request_id": request_id,
    }
    if errors is not None:
        body["errors"] = [dict(error) for error in errors]
    if extra:
        body.update(extra)
    return Response(
        json_bytes(body),
        status_code=status,
        headers=dict(headers or {}),
        media_type="application/problem+json",
    )
