"""Request and response bodies of ``/chat``."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr

from resync_fastapi.core.validation import CONTROL_CLASS, SPACE_CLASS, bounded_text
from resync_fastapi.models.common import Timestamp

__all__ = ["ChatIn", "ChatMessageOut", "MessageText"]


def _message_pattern(max_length: int) -> str:
    """The message rules of docs/api.md as one pattern, for the OpenAPI document.

    Trimmed (``str.strip``: Python's white space, spelled out, because ``\\s`` means another set
    in ECMA-262), the text is 1..``max_length`` characters with no control character but
    newline and tab. White space may pad it: padding is trimmed, not counted.
    """
    space, control = SPACE_CLASS, CONTROL_CLASS
    edge = f"[^{space}{control}]"
    return f"^[{space}]*{edge}(?:[^{control}]{{0,{max_length - 2}}}{edge})?[{space}]*$"


MESSAGE_MAX_LENGTH = 4000
MESSAGE_PATTERN = _message_pattern(MESSAGE_MAX_LENGTH)

MessageText = Annotated[
    StrictStr,
    AfterValidator(bounded_text(1, MESSAGE_MAX_LENGTH, trim=True, forbid_control=True)),
    # No maxLength: padding around the text is trimmed before the length is counted.
    Field(json_schema_extra={"minLength": 1, "pattern": MESSAGE_PATTERN}),
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
