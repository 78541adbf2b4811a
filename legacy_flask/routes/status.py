"""Report the TWS plan, workstations and jobs; every call goes to the TWS REST API."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response

from legacy_flask.access import require_role
from legacy_flask.app_state import state
from legacy_flask.database import utcnow
from legacy_flask.encoding import json_response
from legacy_flask.errors import NotFound, TwsNotFound, UpstreamError, ValidationFailed
from legacy_flask.tws import JOB_FIELDS, JOB_STATUSES, TWS_ERROR, items_of, project
from legacy_flask.validation import FieldErrors

__all__ = ["bp"]

bp = Blueprint("status", __name__, url_prefix="/api/v1/status")

PLAN_FIELDS = ("plan_id", "created_at", "jobs_count", "status", "estimated_end")
WORKSTATION_FIELDS = ("name", "type", "status", "last_seen")
HISTORY_SHOWN = 10
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _total(body: dict[str, Any]) -> int:
    total = body.get("total")
    if not isinstance(total, int):
        raise UpstreamError(TWS_ERROR)
    return total


def _workstations() -> list[dict[str, Any]]:
    return [project(item, WORKSTATION_FIELDS) for item in items_of(state().tws.workstations())]


@bp.get("")
@require_role("viewer")
def summary() -> Response:
    tws = state().tws
    plan = project(tws.plan(), PLAN_FIELDS)
    workstations = _workstations()
    jobs = {"total": _total(tws.jobs(limit=1))}
    for status in JOB_STATUSES:
        jobs[status] = _total(tws.jobs(status=status, limit=1))
    critical = tws.critical_path().get("jobs")
    if not isinstance(critical, list):
        raise UpstreamError(TWS_ERROR)
    return json_response(
        {
            "plan": plan,
            "workstations": {
                "total": len(workstations),
                "linked": sum(1 for w in workstations if w["status"] == "LINKED"),
            },
            "jobs": jobs,
            "critical_jobs": [project(job, JOB_FIELDS) for job in critical],
            "generated_at": utcnow(),
        }
    )


@bp.get("/workstations")
@require_role("viewer")
def workstations() -> Response:
    fields = FieldErrors()
    limit, offset = fields.pagination()
    fields.raise_if_any()
    items = _workstations()
    return json_response(
        {
            "items": items[offset : offset + limit],
            "total": len(items),
            "limit": limit,
            "offset": offset,
        }
    )


@bp.get("/jobs")
@require_role("viewer")
def jobs() -> Response:
    fields = FieldErrors()
    status = fields.query_choice("status", JOB_STATUSES, default=None)
    workstation = fields.query_string("workstation")
    limit, offset = fields.pagination()
    fields.raise_if_any()
    body = state().tws.jobs(status=status, workstation=workstation, limit=limit, offset=offset)
    return json_response(
        {
            "items": [project(item, JOB_FIELDS) for item in items_of(body)],
            "total": _total(body),
            "limit": limit,
            "offset": offset,
        }
    )


def _checked_job_id(job_id: str) -> str:
    if not _JOB_ID.fullmatch(job_id):
        raise ValidationFailed(
            [
                {
                    "field": "job_id",
                    "code": "invalid_format",
                    "message": "Must be 1 to 64 of A-Z a-z 0-9 _ -.",
                }
            ]
        )
    return job_id


@bp.get("/jobs/<job_id>")
@require_role("viewer")
def job_detail(job_id: str) -> Response:
    job_id = _checked_job_id(job_id)
    tws = state().tws
    try:
        job = project(tws.job(job_id), JOB_FIELDS)
        dependencies = items_of(tws.job_dependencies(job_id))
        history = items_of(tws.job_history(job_id))[:HISTORY_SHOWN]
    except TwsNotFound as exc:
        raise NotFound(f"Job {job_id} not found.") from exc
    return json_response({**job, "dependencies": dependencies, "history": history})


@bp.get("/jobs/<job_id>/log")
@require_role("viewer")
def job_log(job_id: str) -> Response:
    job_id = _checked_job_id(job_id)
    try:
        body = state().tws.job_log(job_id)
    except TwsNotFound as exc:
        raise NotFound(f"Job {job_id} not found.") from exc
    log = body.get("log")
    if not isinstance(log, str):
        raise UpstreamError(TWS_ERROR)
    return json_response({"job_id": job_id, "log": log})


@bp.get("/plan")
@require_role("viewer")
def plan() -> Response:
    return json_response(project(state().tws.plan(), PLAN_FIELDS))
