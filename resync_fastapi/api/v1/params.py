"""Query and path parameters shared by several routes, with the documented checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, BeforeValidator

from resync_fastapi.core.validation import (
    bounded_text,
    choice,
    int_range,
    pattern,
    query_integer,
)

__all__ = [
    "JOB_ID_PATTERN",
    "AuditStatus",
    "AuditText",
    "ExportFormat",
    "JobId",
    "JobStatus",
    "Limit",
    "Offset",
    "SearchQuery",
    "TopK",
]

JOB_ID_PATTERN = r"[A-Za-z0-9_-]{1,64}"

Limit = Annotated[
    int,
    BeforeValidator(query_integer),
    AfterValidator(int_range(1, 100)),
    Query(description="Page size (1..100).", json_schema_extra={"minimum": 1, "maximum": 100}),
]
Offset = Annotated[
    int,
    BeforeValidator(query_integer),
    AfterValidator(int_range(0)),
    Query(description="Items to skip (>= 0).", json_schema_extra={"minimum": 0}),
]
TopK = Annotated[
    int,
    BeforeValidator(query_integer),
    AfterValidator(int_range(1, 20)),
    Query(description="How many results (1..20).", json_schema_extra={"minimum": 1, "maximum": 20}),
]
SearchQuery = Annotated[
    str,
    AfterValidator(bounded_text(1, 200)),
    Query(description="Words to look for (1..200 characters).", examples=["abend restart"]),
]
AuditStatus = Annotated[
    str,
    AfterValidator(choice("pending", "approved", "rejected", "all")),
    Query(json_schema_extra={"enum": ["pending", "approved", "rejected", "all"]}),
]
AuditText = Annotated[
    str | None,
    AfterValidator(lambda value: None if value is None else bounded_text(None, 200)(value)),
    Query(description="Case-insensitive substring of the query or the response."),
]
ExportFormat = Annotated[
    str,
    AfterValidator(choice("ndjson", "csv")),
    Query(json_schema_extra={"enum": ["ndjson", "csv"]}),
]
JobStatus = Annotated[
    str | None,
    AfterValidator(
        lambda value: (
            None if value is None else choice("SUCC", "ABEND", "EXEC", "HOLD", "READY")(value)
        )
    ),
    Query(json_schema_extra={"enum": ["SUCC", "ABEND", "EXEC", "HOLD", "READY"]}),
]
JobId = Annotated[
    str,
    AfterValidator(pattern(JOB_ID_PATTERN, "Must be 1 to 64 of A-Z a-z 0-9 _ -.")),
    Path(examples=["J0001"]),
]
