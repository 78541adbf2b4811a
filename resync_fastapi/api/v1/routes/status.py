"""``/status``: the TWS plan, workstations and jobs (viewer); every call goes to TWS.

Where one answer needs several TWS calls they run concurrently; when some fail, the error of
the first call in declaration order wins, so the answer does not depend on which reply came
back first (and matches the legacy app, which calls them in that order).

The routes read the TWS client from the request (:func:`tws_of`) rather than declaring the
``Tws`` dependency: each dependency is a nested solve on every request, and these are the
app's hot TWS-bound routes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic_core import to_json

from resync_fastapi.api.v1.dependencies import CurrentUser, tws_of
from resync_fastapi.api.v1.params import JobId, JobStatus, Limit, Offset
from resync_fastapi.core.responses import EncodedJSONResponse, format_timestamp
from resync_fastapi.core.routing import ResyncRoute
from resync_fastapi.models import (
    JobDetailOut,
    JobLogOut,
    JobOut,
    Page,
    PlanOut,
    StatusOut,
    WorkstationOut,
    problem_responses,
)
from resync_fastapi.services.tws import JOB_STATUSES

__all__ = ["gather_in_order", "router"]

router = APIRouter(
    route_class=ResyncRoute,
    prefix="/status",
    tags=["status"],
    responses=problem_responses(401, 502, 504),
)


async def gather_in_order(*calls: Awaitable[Any]) -> list[Any]:
    """Await ``calls`` concurrently; raise the first failure in argument order."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


@router.get("", response_model=StatusOut)
async def summary(user: CurrentUser, request: Request) -> dict[str, Any]:
    """The plan, workstation and job counts, and the critical path, in one answer."""
    tws = tws_of(request)
    plan, workstations, total, *per_status, critical = await gather_in_order(
        tws.current_plan(),
        tws.workstations(),
        tws.job_count(),
        *(tws.job_count(status) for status in JOB_STATUSES),
        tws.critical_jobs(),
    )
    items, workstation_total = workstations
    return {
        "plan": plan,
        "workstations": {
            "total": workstation_total,
            "linked": sum(1 for item in items if item.get("status") == "LINKED"),
        },
        "jobs": {"total": total, **dict(zip(JOB_STATUSES, per_status, strict=True))},
        "critical_jobs": critical,
        "generated_at": format_timestamp(datetime.now(UTC)),
    }


@router.get("/workstations", response_model=Page[WorkstationOut], responses=problem_responses(400))
async def workstations(
    user: CurrentUser, request: Request, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    """The workstations, ordered by name."""
    items, total = await tws_of(request).workstations()
    return {
        "items": items[offset : offset + limit],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.get("/jobs", response_model=Page[JobOut], responses=problem_responses(400))
async def jobs(
    user: CurrentUser,
    request: Request,
    status: JobStatus = None,
    workstation: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> EncodedJSONResponse:
    """Jobs in the current plan, filtered by status and workstation."""
    # The hot TWS-bound route: TWS's bytes are parsed into the items by pydantic-core and the
    # answer (strings, nulls and integers only) written by it, with no response model pass.
    items, total = await tws_of(request).job_page(
        status=status, workstation=workstation, limit=limit, offset=offset
    )
    body = {"items": items, "total": total, "limit": limit, "offset": offset}
    return EncodedJSONResponse(to_json(body))


@router.get("/jobs/{job_id}", response_model=JobDetailOut, responses=problem_responses(400, 404))
async def job(job_id: JobId, user: CurrentUser, request: Request) -> dict[str, Any]:
    """One job with its dependencies and its last ten runs."""
    tws = tws_of(request)
    detail, dependencies, history = await gather_in_order(
        tws.job(job_id), tws.job_dependencies(job_id), tws.job_history(job_id)
    )
    return {**detail, "dependencies": dependencies, "history": history[:10]}


@router.get("/jobs/{job_id}/log", response_model=JobLogOut, responses=problem_responses(400, 404))
async def job_log(job_id: JobId, user: CurrentUser, request: Request) -> dict[str, Any]:
    """The job's log."""
    return {"job_id": job_id, "log": await tws_of(request).job_log(job_id)}


@router.get("/plan", response_model=PlanOut)
async def plan(user: CurrentUser, request: Request) -> dict[str, Any]:
    """The current plan."""
    return await tws_of(request).current_plan()
