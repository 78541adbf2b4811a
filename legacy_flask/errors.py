"""Name every way a request can fail, each carrying the HTTP answer it becomes.

Exception tree::

    LegacyFlaskError
    ├── ConfigurationError          bad settings: the app refuses to start
    ├── TwsNotFound                 TWS answered 404 (the view decides what that means)
    └── ApiError                    becomes a problem+json answer (status, slug, title, detail)
        ├── ValidationFailed        400 validation (carries the field errors)
        ├── Unauthorized            401 unauthorized (+ WWW-Authenticate)
        ├── Forbidden               403 forbidden
        ├── NotFound                404 not-found
        ├── MethodNotAllowed        405 method-not-allowed (+ Allow)
        ├── Conflict                409 conflict
        ├── PayloadTooLarge         413 payload-too-large
        ├── UnsupportedMediaType    415 unsupported-media-type
        ├── RateLimited             429 rate-limited (+ Retry-After)
        ├── InternalError           500 internal
        ├── ServiceUnavailable      503 unavailable (readiness)
        └── UpstreamError           502 upstream-error (TWS 5xx, unreachable)
            └── UpstreamTimeout     504 upstream-timeout
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "ApiError",
    "ConfigurationError",
    "Conflict",
    "FieldError",
    "Forbidden",
    "InternalError",
    "LegacyFlaskError",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServiceUnavailable",
    "TwsNotFound",
    "Unauthorized",
    "UnsupportedMediaType",
    "UpstreamError",
    "UpstreamTimeout",
    "ValidationFailed",
]

FieldError = dict[str, str]


class LegacyFlaskError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigurationError(LegacyFlaskError):
    """The settings cannot run an app (e.g. production without a strong secret)."""


class TwsNotFound(LegacyFlaskError):
    """TWS answered 404 for a resource."""


class ApiError(LegacyFlaskError):
    """An error that is answered as an RFC 9457 problem."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal server error"

    def __init__(
        self,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


class ValidationFailed(ApiError):
    status = 400
    slug = "validation"
    title = "Validation failed"

    def __init__(
        self, errors: list[FieldError], detail: str = "The request has invalid fields."
    ) -> None:
        super().__init__(detail, extra={"errors": errors})
        self.errors = errors


class Unauthorized(ApiError):
    status = 401
    slug = "unauthorized"
    title = "Unauthorized"

    def __init__(self, detail: str, *, invalid_token: bool = False) -> None:
        challenge = 'Bearer error="invalid_token"' if invalid_token else "Bearer"
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class Forbidden(ApiError):
    status = 403
    slug = "forbidden"
    title = "Forbidden"


class NotFound(ApiError):
    status = 404
    slug = "not-found"
    title = "Not found"


class MethodNotAllowed(ApiError):
    status = 405
    slug = "method-not-allowed"
    title = "Method not allowed"


class Conflict(ApiError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class PayloadTooLarge(ApiError):
    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaType(ApiError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class RateLimited(ApiError):
    status = 429
    slug = "rate-limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class InternalError(ApiError):
    status = 500
    slug = "internal"
    title = "Internal server error"


class ServiceUnavailable(ApiError):
    status = 503
    slug = "unavailable"
    title = "Service unavailable"


class UpstreamError(ApiError):
    status = 502
    slug = "upstream-error"
    title = "Upstream error"


class UpstreamTimeout(UpstreamError):
    status = 504
    slug = "upstream-timeout"
    title = "Upstream timeout"
