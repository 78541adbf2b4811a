"""What every admin router shares: the admin dependency, JSON answers and problem handling.

Errors are problem documents; validation errors are 400 (never 422) with the team's field codes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import StringConstraints
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from proxy.auth import Principal, require_admin
from proxy.errors import StoreError, StoreMissing, StoreUnavailable, VersionConflict
from proxy.flags.changes import RejectedChange
from proxy.problems import AdminProblem, json_bytes, problem_response

__all__ = [
    "Admin",
    "Reason",
    "install_problem_handlers",
    "json_response",
    "rejected",
    "store_problem",
]

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Admin = Annotated[Principal, Depends(require_admin)]


def json_response(body: Any, status: int = 200) -> Response:
    """``body`` as the admin API's JSON (the problem documents' encoder)."""
    return Response(json_bytes(body), status_code=status, media_type="application/json")


def rejected(exc: RejectedChange) -> AdminProblem:
    """A change the inventory refuses, as a 400 naming its field."""
    return AdminProblem(
        400,
        str(exc.reason),
        errors=[{"field": exc.field, "code": exc.code, "message": str(exc.reason)}],
    )


def store_problem(exc: StoreError) -> AdminProblem:
    """A flag store failure during a change, as the problem the admin API answers."""
    if isinstance(exc, VersionConflict):
        return AdminProblem(409, conflict(exc.expected, exc.actual))
    if isinstance(exc, StoreMissing):
        return AdminProblem(
            503,
            "The flag store does not exist; nothing changed. Restore it, or create it with "
            "`resync-strangler flags init`.",
        )
    if isinstance(exc, StoreUnavailable):
        return AdminProblem(503, "The flag store is unreachable.")
    return AdminProblem(500, "The flag store failed to apply the change.")


def conflict(expected: int, actual: int) -> str:
    return f"The flag table is at version {actual}, not the expected {expected}."


_CODES = {
    "missing": "missing",
    "string_type": "invalid_type",
    "int_type": "invalid_type",
    "int_parsing": "invalid_type",
    "int_from_float": "invalid_type",
    "bool_type": "invalid_type",
    "bool_parsing": "invalid_type",
    "model_attributes_type": "invalid_type",
    "dict_type": "invalid_type",
    "string_too_short": "too_short",
    "string_too_long": "too_long",
    "greater_than_equal": "out_of_range",
    "less_than_equal": "out_of_range",
    "enum": "invalid_choice",
    "literal_error": "invalid_choice",
}


def _field_errors(exc: RequestValidationError) -> tuple[str, list[dict[str, str]]]:
    errors: list[dict[str, str]] = []
    detail = "The request has invalid fields."
    for error in exc.errors():
        kind = error.get("type", "")
        location = [str(part) for part in error.get("loc", ())]
        if kind == "json_invalid":
            return "The request body is not valid JSON.", [
                {"field": "body", "code": "invalid_format", "message": "Malformed JSON."}
            ]
        field = ".".join(location[1:]) or "body"
        if kind == "model_attributes_type" or field == "body":
            field, kind = "body", "model_attributes_type"
        message = str(error.get("msg", "Invalid value."))
        errors.append(
            {"field": field, "code": _CODES.get(kind, "invalid_format"), "message": message}
        )
    return detail, errors


def _problem(request: Request, exc: AdminProblem) -> Response:
    return problem_response(
        exc.status,
        exc.detail,
        instance=request.url.path,
        request_id=request.headers.get("x-request-id"),
        errors=exc.errors,
        headers=exc.headers,
        extra=exc.extra,
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` with a problem document (400 for invalid requests)."""

    @app.exception_handler(AdminProblem)
    async def on_problem(request: Request, exc: AdminProblem) -> Response:
        return _problem(request, exc)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        detail, errors = _field_errors(exc)
        return _problem(request, AdminProblem(400, detail, errors=errors))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return _problem(request, AdminProblem(404, "The requested URL was not found."))
        if exc.status_code == 405:
            return _problem(
                request,
                AdminProblem(
                    405,
                    f"Method {request.method} is not allowed for this URL.",
                    headers=dict(exc.headers or {}),
                ),
            )
        return _problem(request, AdminProblem(exc.status_code, str(exc.detail)))


@contextlib.contextmanager
def change_problems() -> Iterator[None]:
    """Answer a refused change (400) or a store failure (409/503/500) as the admin API does."""
    try:
        yield
    except RejectedChange as exc:
        raise rejected(exc) from exc
    except StoreError as exc:
        raise store_problem(exc) from exc
