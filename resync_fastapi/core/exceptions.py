"""Name every error the app answers with (each becomes an RFC 9457 problem).

The hierarchy (each leaf carries its HTTP status, slug, title and the exact detail of
docs/api.md)::

    ResyncError
    └── ApiError                      an answer to the client (status, slug, title, detail)
        ├── ValidationFailed          400 validation (with ``errors``)
        ├── Unauthorized              401 unauthorized (``WWW-Authenticate: Bearer``)
        │   ├── MissingToken
        │   ├── InvalidToken          (``Bearer error="invalid_token"``)
        │   └── BadCredentials
        ├── Forbidden                 403 forbidden
        ├── NotFound                  404 not-found
        ├── MethodNotAllowed          405 method-not-allowed (``Allow``)
        ├── Conflict                  409 conflict
        ├── PayloadTooLarge           413 payload-too-large
        ├── UnsupportedMediaType      415 unsupported-media-type
        ├── RateLimited               429 rate-limited (``Retry-After``)
        ├── InternalError             500 internal
        ├── UpstreamError             502 upstream-error (TWS 5xx, unreachable, odd 4xx)
        ├── ServiceUnavailable        503 unavailable (readiness only)
        └── UpstreamTimeout           504 upstream-timeout

Low-level failures (httpx, SQLAlchemy) are translated where they happen with
``raise ... from exc``. Only the classes live here (no request handling, nothing from FastAPI):
:mod:`resync_fastapi.core.handlers` renders every ``ApiError`` and the framework's own
404/405/validation errors as problem bodies so no answer differs from the legacy app's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "ApiError",
    "BadCredentials",
    "Conflict",
    "FieldError",
    "Forbidden",
    "InternalError",
    "InvalidToken",
    "MethodNotAllowed",
    "MissingToken",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ResyncError",
    "ServiceUnavailable",
    "Unauthorized",
    "UnsupportedMediaType",
    "UpstreamError",
    "UpstreamTimeout",
    "ValidationFailed",
]

FieldError = dict[str, str]


class ResyncError(Exception):
    """Root of every error this package raises on purpose."""


class ApiError(ResyncError):
    """An error that becomes an HTTP problem answer."""

    status: int = 500
    slug: str = "internal"
    title: str = "Internal server error"
    default_detail: str = "An unexpected error occurred."

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.default_detail
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        super().__init__(self.detail)


class ValidationFailed(ApiError):
    status, slug, title = 400, "validation", "Validation failed"
    default_detail = "The request has invalid fields."

    def __init__(self, errors: Sequence[FieldError], detail: str | None = None) -> None:
        super().__init__(detail, extra={"errors": list(errors)})
        self.errors = list(errors)


class Unauthorized(ApiError):
    status, slug, title = 401, "unauthorized", "Unauthorized"
    default_detail = "Missing bearer token."
    challenge = "Bearer"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": self.challenge})


class MissingToken(Unauthorized):
    default_detail = "Missing bearer token."


class InvalidToken(Unauthorized):
    default_detail = "Invalid or expired token."
    challenge = 'Bearer error="invalid_token"'


class BadCredentials(Unauthorized):
    default_detail = "Invalid username or password."


class Forbidden(ApiError):
    status, slug, title = 403, "forbidden", "Forbidden"

    def __init__(self, role: str) -> None:
        super().__init__(f"This action requires the {role} role.")


class NotFound(ApiError):
    status, slug, title = 404, "not-found", "Not found"
    default_detail = "The requested URL was not found."


class MethodNotAllowed(ApiError):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"

    def __init__(self, method: str, allow: str) -> None:
        super().__init__(f"Method {method} is not allowed for this URL.", headers={"Allow": allow})


class Conflict(ApiError):
    status, slug, title = 409, "conflict", "Conflict"


class PayloadTooLarge(ApiError):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(ApiError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"
    default_detail = "Expected application/json."


class RateLimited(ApiError):
    status, slug, title = 429, "rate-limited", "Too many requests"
    default_detail = "Too many failed login attempts. Try again later."

    def __init__(self, retry_after: int) -> None:
        super().__init__(headers={"Retry-After": str(retry_after)})


class InternalError(ApiError):
    """500: something broke that the client cannot fix; details stay in the log."""


class UpstreamError(ApiError):
    status, slug, title = 502, "upstream-error", "Upstream error"
    default_detail = "TWS returned an error."


class ServiceUnavailable(ApiError):
    status, slug, title = 503, "unavailable", "Service unavailable"


class UpstreamTimeout(ApiError):
    status, slug, title = 504, "upstream-timeout", "Upstream timeout"
    default_detail = "TWS did not answer in time."
