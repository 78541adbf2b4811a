"""Response bodies of ``/status`` and ``/health`` (TWS data passes through as TWS wrote it)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "JobCountsOut",
    "JobDetailOut",
    "JobLogOut",
    "JobOut",
    "LiveOut",
    "PlanOut",
    "ReadyChecksOut",
    "ReadyOut",
    "StatusOut",
    "WorkstationCountsOut",
    "WorkstationOut",
]


class PlanOut(BaseModel):
    """The current plan."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "plan_id": "PLAN_20261126",
                    "created_at": "2026-11-26T00:00:00Z",
                    "jobs_count": 500,
                    "status": "RUNNING",
                    "estimated_end": "2026-11-26T23:30:00Z",
                }
            ]
        }
    )

    plan_id: str | None
    created_at: str | None
    jobs_count: int | None
    status: str | None
    estimated_end: str | None


class WorkstationOut(BaseModel):
    """A workstation."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "CPU_MASTER",
                    "type": "MASTER",
                    "status": "LINKED",
                    "last_seen": "2026-11-26T09:59:00Z",
                }
            ]
        }
    )

    name: str | None
    type: str | None
    status: str | None
    last_seen: str | None


class JobOut(BaseModel):
    """A job definition in the current plan."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "J0007",
                    "name": "PAYROLL_EXTRACT_07",
                    "workstation": "FTA_LINUX_02",
                    "job_stream": "JS_PAYROLL",
                    "status": "ABEND",
                    "start_time": "2026-11-26T01:00:00Z",
                    "end_time": "2026-11-26T01:05:00Z",
                }
            ]
        }
    )

    id: str | None
    name: str | None
    workstation: str | None
    job_stream: str | None
    status: str | None
    start_time: str | None
    end_time: str | None


class JobDetailOut(JobOut):
    """A job with its predecessors and its last ten runs (newest first)."""

    dependencies: list[dict[str, Any]]
    history: list[dict[str, Any]]


class JobLogOut(BaseModel):
    """A job's log text."""

    job_id: str
    log: str


class WorkstationCountsOut(BaseModel):
    """How many workstations there are and how many are linked."""

    total: int
    linked: int


class JobCountsOut(BaseModel):
    """Job counts per status."""

    total: int
    SUCC: int
    ABEND: int
    EXEC: int
    HOLD: int
    READY: int


class StatusOut(BaseModel):
    """The dashboard summary."""

    plan: PlanOut
    workstations: WorkstationCountsOut
    jobs: JobCountsOut
    critical_jobs: list[JobOut]
    generated_at: str = Field(json_schema_extra={"example": "2026-11-26T10:00:00Z"})


class LiveOut(BaseModel):
    """The process answers."""

    status: str = "ok"


class ReadyChecksOut(BaseModel):
    """Each dependency's state."""

    database: str
    tws: str


class ReadyOut(BaseModel):
    """Everything the app needs answers."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "ready", "checks": {"database": "ok", "tws": "ok"}}]
        }
    )

    status: str
    checks: ReadyChecksOut
