"""Request and response bodies of ``/chat``."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr

from resync_fastapi.core.validation import bounded_text
from resync_fastapi.models.common import Timestamp

__all__ = ["ChatIn", "ChatMessageOut", "MessageText"]

MessageText = Annotated[
    StrictStr,
    AfterValidator(bounded_text(1, 4000, trim=True, forbid_control=True)),
    Field(json_schema_extra={"minLength": 1, "maxLength": 4000}),
]


class ChatIn(BaseModel):
    """A message for an agent."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"agent_id": "tws-troubleshooting", "message": "which jobs failed?"}]
        }
    )

    agent_id: StrictStr
    message: MessageText


class ChatMessageOut(BaseModel):
    """One stored exchange: the trimmed message and the agent's reply."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 42,
                    "agent_id": "tws-troubleshooting",
                    "message": "which jobs failed?",
                    "reply": "3 jobs are in ABEND: ETL_LOAD_014, PAYROLL_EXTRACT_07, REPORT_22.",
                    "intent": "failures",
                    "created_at": "2026-11-26T10:00:00Z",
                }
            ]
        }
    )

    id: int
    agent_id: str
    message: str
    reply: str
    intent: str
    created_at: Timestamp
