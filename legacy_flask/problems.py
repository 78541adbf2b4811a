"""Answer every error as an RFC 9457 problem, Flask's own 404/405/413 included.

No stack trace, SQL fragment or secret ever leaves the process: an unexpected exception is
logged with the request id and answered with a fixed 500 body.
"""

from __future__ import annotations

from typing import Any

import structlog
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, InternalServerError

from legacy_flask.app_state import state
from legacy_flask.encoding import json_response
from legacy_flask.errors import (
    ApiError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from legacy_flask.request_log import REQUEST_ID_KEY

__all__ = ["JSON_BODY_LIMIT", "body_too_large", "problem_response", "register_error_handlers"]

PROBLEM_MIMETYPE = "application/problem+json"
JSON_BODY_LIMIT = 1_048_576
UPLOAD_ENDPOINT = "rag.upload"
logger = structlog.get_logger("legacy_flask")


def problem_response(error: ApiError) -> Response:
    """Render ``error`` as a problem body with its status and headers."""
    body: dict[str, Any] = {
        "type": f"urn:resync:problem:{error.slug}",
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "instance": request.path,
        "request_id": request.environ.get(REQUEST_ID_KEY, ""),
    }
    body.update(error.extra)
    response = json_response(body, status=error.status, mimetype=PROBLEM_MIMETYPE)
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def body_too_large(rag_max_bytes: int) -> PayloadTooLarge:
    """The 413 for this request: the upload route names the file limit, others the JSON one."""
    if request.endpoint == UPLOAD_ENDPOINT:
        return PayloadTooLarge(f"The file exceeds the limit of {rag_max_bytes} bytes.")
    return PayloadTooLarge(f"The request body exceeds the limit of {JSON_BODY_LIMIT} bytes.")


def _unexpected(exc: BaseException) -> Response:
    logger.error(
        "unhandled_exception",
        request_id=request.environ.get(REQUEST_ID_KEY, ""),
        path=request.path,
        method=request.method,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return problem_response(InternalError("An unexpected error occurred."))


def _http_problem(exc: HTTPException) -> ApiError:
    code = exc.code or 500
    if code == 404:
        return NotFound("The requested URL was not found.")
    if code == 405:
        methods = sorted(getattr(exc, "valid_methods", None) or [])
        return MethodNotAllowed(
            f"Method {request.method} is not allowed for this URL.",
            headers={"Allow": ", ".join(methods)},
        )
    if code == 413:
        return body_too_large(_rag_max_bytes())
    if code == 415:
        return UnsupportedMediaType("Expected application/json.")
    if 400 <= code < 500:
        # Werkzeug refused the request itself (e.g. an unparseable multipart body).
        return ValidationFailed(
            [{"field": "body", "code": "invalid_format", "message": "Malformed request body."}]
        )
    return InternalError("An unexpected error occurred.")


def _rag_max_bytes() -> int:
    return state().settings.rag_max_bytes


def register_error_handlers(app: Flask) -> None:
    """Route every error (ours, Werkzeug's, anything unexpected) to a problem answer."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return problem_response(exc)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        if isinstance(exc, InternalServerError):
            original = exc.original_exception
            return _unexpected(original if original is not None else exc)
        return problem_response(_http_problem(exc))

    @app.errorhandler(Exception)
    def _any_error(exc: Exception) -> Response:
        return _unexpected(exc)
