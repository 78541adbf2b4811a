"""Request and response bodies of ``/audit``."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr

from resync_fastapi.core.validation import choice
from resync_fastapi.models.common import Timestamp

__all__ = ["AUDIT_KEYS", "AuditItemOut", "AuditMetricsOut", "ReviewIn"]

AUDIT_KEYS = (
    "id",
    "memory_id",
    "agent_id",
    "user_query",
    "agent_response",
    "reason",
    "confidence",
    "status",
    "created_at",
    "reviewed_at",
    "reviewed_by",
)


class AuditItemOut(BaseModel):
    """An exchange flagged for human review."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 31,
                    "memory_id": "chat-17",
                    "agent_id": "tws-general",
                    "user_query": "what is the weather on CPU_MASTER",
                    "agent_response": "I can report a job's status ('job NAME'), failed jobs, "
                    "workstations and the current plan.",
                    "reason": "unrecognized request",
                    "confidence": 0.0,
                    "status": "pending",
                    "created_at": "2026-11-26T10:00:00Z",
                    "reviewed_at": None,
                    "reviewed_by": None,
                }
            ]
        }
    )

    id: int
    memory_id: str
    agent_id: str
    user_query: str
    agent_response: str
    reason: str
    confidence: float
    status: str
    created_at: Timestamp
    reviewed_at: Timestamp | None
    reviewed_by: str | None


class ReviewIn(BaseModel):
    """A review decision."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"memory_id": "chat-17", "action": "approve"}]}
    )

    memory_id: StrictStr
    action: Annotated[
        StrictStr,
        AfterValidator(choice("approve", "reject")),
        Field(json_schema_extra={"enum": ["approve", "reject"]}),
    ]


class AuditMetricsOut(BaseModel):
    """How many items are in each state."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"pending": 14, "approved": 9, "rejected": 7, "total": 30}]}
    )

    pending: int
    approved: int
    rejected: int
    total: int
