"""Parse JSON request bodies after authentication, with the project's 415 and 400 answers.

FastAPI decodes a declared body before it runs any dependency, so a malformed body would be
reported before a missing token; docs/api.md puts authentication (401/403) and the content-type
check (415) first. Routes therefore take their body through :func:`json_body`, a dependency
declared after the auth dependency, and document it with :func:`json_body_openapi`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from resync_fastapi.core.exceptions import UnsupportedMediaType, ValidationFailed
from resync_fastapi.core.validation import field_errors, unpaired_surrogate_errors

__all__ = [
    "is_json",
    "json_body",
    "json_body_openapi",
    "parse_json_object",
    "read_json_object",
    "validate_model",
]

M = TypeVar("M", bound=BaseModel)


def media_type(content_type: str | None) -> str:
    """Return the lowercased media type of a ``Content-Type`` value, without parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    """True for ``application/json`` (parameters such as ``charset`` allowed)."""
    return media_type(content_type) == "application/json"


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are Python's extensions, not JSON.
    raise ValueError(f"{name} is not JSON")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Decode ``raw`` as a JSON object or raise the documented 400."""
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ValidationFailed(
            [{"field": "body", "code": "invalid_format", "message": "Malformed JSON."}],
            detail="The request body is not valid JSON.",
        ) from None
    if not isinstance(data, dict):
        raise ValidationFailed(
            [{"field": "body", "code": "invalid_type", "message": "Expected an object."}]
        )
    # Checked before the fields: no rule below (or the database) can handle such a string.
    surrogates = unpaired_surrogate_errors(data)
    if surrogates:
        raise ValidationFailed(surrogates)
    return data


async def read_json_object(request: Request) -> dict[str, Any]:
    """Read the body as a JSON object: 415 if a body comes with another content type."""
    raw = await request.body()
    if raw and not is_json(request.headers.get("content-type")):
        raise UnsupportedMediaType()
    return parse_json_object(raw)


def validate_model(model: type[M], data: dict[str, Any]) -> M:
    """Validate ``data`` against ``model``, reporting every field error in model order."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc.errors(include_url=False))) from None


def json_body(model: type[M]) -> Callable[[Request], Awaitable[M]]:
    """Return a dependency that reads, checks and validates a JSON body as ``model``."""

    async def parse(request: Request) -> M:
        return validate_model(model, await read_json_object(request))

    parse.__name__ = f"{model.__name__}_body"
    return parse


def json_body_openapi(model: type[BaseModel], *, form: bool = False) -> dict[str, Any]:
    """Describe ``model`` as the route's request body (``openapi_extra``)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if form:
        content["application/x-www-form-urlencoded"] = {"schema": schema}
    return {"requestBody": {"required": True, "content": content}}
