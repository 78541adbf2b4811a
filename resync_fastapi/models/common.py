"""Shared pieces of the pydantic models: timestamps, list bodies, problems."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from resync_fastapi.core.responses import format_timestamp

__all__ = ["FieldErrorOut", "Page", "ProblemOut", "Timestamp", "problem_responses"]

T = TypeVar("T")

Timestamp = Annotated[
    datetime,
    PlainSerializer(format_timestamp, return_type=str),
    Field(json_schema_extra={"format": "date-time", "example": "2026-11-26T10:00:00Z"}),
]


class Page(BaseModel, Generic[T]):
    """A list body: one page of items and where it sits."""

    items: list[T]
    total: int
    limit: int
    offset: int


class FieldErrorOut(BaseModel):
    """One invalid field of a 400 answer."""

    field: str
    code: str
    message: str


class ProblemOut(BaseModel):
    """An RFC 9457 problem, as every error answer carries it."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:resync:problem:not-found",
                    "title": "Not found",
                    "status": 404,
                    "detail": "Agent nope not found.",
                    "instance": "/api/v1/agents/nope",
                    "request_id": "3f2b9c0e8d7a4b61a0c1d2e3f4a5b6c7",
                }
            ]
        },
    )

    type: str
    title: str
    status: int
    detail: str
    instance: str
    request_id: str
    errors: list[FieldErrorOut] | None = None


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Document the problem answers a route can give (for OpenAPI only)."""
    return {
        status: {"model": ProblemOut, "content": {"application/problem+json": {}}}
        for status in statuses
    }
