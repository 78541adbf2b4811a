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
    "MAX_OFFSET",
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
# The largest page offset (2**31 - 1): past the 64-bit integers the databases bind, a huge
# offset was an OverflowError (500); this bound also stays exact in a JavaScript client.
MAX_OFFSET = 2_147_483_647

Limit = Annotated[
    int,
    BeforeValidator(query_integer),
    AfterValidator(int_range(1, 100)),
    Query(description="Page size (1..100).", json_schema_extra={"minimum": 1, "maximum": 100}),
]
Offset = Annotated[
    int,
    BeforeValidator(query_integer),
    AfterValidator(int_range(0, MAX_OFFSET)),
    Query(
        description=f"Items to skip (0..{MAX_OFFSET}).",
        json_schema_extra={"minimum": 0, "maximum": MAX_OFFSET},
    ),
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
    Query(
        description="Words to look for (1..200 characters).",
        examples=["abend restart"],
        json_schema_extra={"minLength": 1, "maxLength": 200},
    ),
]
AuditStatus = Annotated[
    str,
    AfterValidator(choice("pending", "approved", "rejected", "all")),
    Query(json_schema_extra={"enum": ["pending", "approved", "rejected", "all"]}),
]
AuditText = Annotated[
    str | None,
    AfterValidator(lambda value: None if value is None else bounded_text(None, 200)(value)),
    Query(
        description="Case-insensitive substring of the query or the response (at most 200).",
        json_schema_extra={"maxLength": 200},
    ),
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
    Path(examples=["J0001"], json_schema_extra={"pattern": f"^{JOB_ID_PATTERN}$"}),
]
