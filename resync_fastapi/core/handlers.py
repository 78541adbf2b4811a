"""Render every error as an RFC 9457 problem: the app's own (:class:`ApiError`) and the
framework's 404, 405 and request validation errors, so no answer differs from the legacy app's.

:func:`install_exception_handlers` registers the renderers on the app (``create_app`` does);
the error classes themselves live in :mod:`resync_fastapi.core.exceptions`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from resync_fastapi.core.exceptions import (
    ApiError,
    Conflict,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorized,
    UnsupportedMediaType,
    UpstreamError,
    UpstreamTimeout,
    ValidationFailed,
)
from resync_fastapi.core.responses import problem_response
from resync_fastapi.core.validation import field_errors

__all__ = ["install_exception_handlers", "render_api_error"]

_BY_STATUS: tuple[type[ApiError], ...] = (
    ValidationFailed,
    Unauthorized,
    NotFound,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    UpstreamError,
    ServiceUnavailable,
    UpstreamTimeout,
)


def render_api_error(request: Request, exc: ApiError) -> Any:
    """Build the problem response for ``exc`` answering ``request``."""
    return problem_response(
        request.scope,
        status=exc.status,
        slug=exc.slug,
        title=exc.title,
        detail=exc.detail,
        headers=exc.headers,
        extra=exc.extra,
    )


async def _api_error_handler(request: Request, exc: Exception) -> Any:
    assert isinstance(exc, ApiError)
    return render_api_error(request, exc)


async def _http_exception_handler(request: Request, exc: Exception) -> Any:
    # Starlette raises these for unknown paths (404) and wrong methods (405); our route class
    # raises MethodNotAllowed itself, so anything else here is a framework corner case.
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return render_api_error(request, NotFound())
    if exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow", "")
        return render_api_error(request, MethodNotAllowed(request.method, allow))
    # Anything else the framework raises keeps its status with the matching problem type.
    kind = next((cls for cls in _BY_STATUS if cls.status == exc.status_code), InternalError)
    error = ApiError(kind.default_detail)
    error.status, error.slug, error.title = exc.status_code, kind.slug, kind.title
    return render_api_error(request, error)


async def _request_validation_handler(request: Request, exc: Exception) -> Any:
    assert isinstance(exc, RequestValidationError)
    return render_api_error(request, ValidationFailed(field_errors(exc.errors())))


def install_exception_handlers(app: FastAPI) -> None:
    """Register the problem+json renderers on ``app``."""
    app.add_exception_handler(ApiError, _api_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler)
    app.add_exception_handler(RequestValidationError, _request_validation_handler)
