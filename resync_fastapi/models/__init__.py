"""Pydantic v2 request and response models (field order is the JSON key order)."""

from __future__ import annotations

from resync_fastapi.models.agents import AgentDetailOut, AgentOut
from resync_fastapi.models.audit import AuditItemOut, AuditMetricsOut, ReviewIn
from resync_fastapi.models.auth import LoginIn, RefreshIn, TokenPairOut, UserCreateIn, UserOut
from resync_fastapi.models.chat import ChatIn, ChatMessageOut
from resync_fastapi.models.common import Page, ProblemOut, Timestamp, problem_responses
from resync_fastapi.models.rag import RagFileOut, SearchHitOut, SearchOut
from resync_fastapi.models.status import (
    JobDetailOut,
    JobLogOut,
    JobOut,
    LiveOut,
    PlanOut,
    ReadyOut,
    StatusOut,
    WorkstationOut,
)

__all__ = [
    "AgentDetailOut",
    "AgentOut",
    "AuditItemOut",
    "AuditMetricsOut",
    "ChatIn",
    "ChatMessageOut",
    "JobDetailOut",
    "JobLogOut",
    "JobOut",
    "LiveOut",
    "LoginIn",
    "Page",
    "PlanOut",
    "ProblemOut",
    "RagFileOut",
    "ReadyOut",
    "RefreshIn",
    "ReviewIn",
    "SearchHitOut",
    "SearchOut",
    "StatusOut",
    "Timestamp",
    "TokenPairOut",
    "UserCreateIn",
    "UserOut",
    "WorkstationOut",
    "problem_responses",
]
