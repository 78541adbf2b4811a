"""``/audit``: the review queue (viewer reads, operator reviews, admin exports)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated, Any

import sqlalchemy as sa
import structlog
from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from resync_fastapi.api.v1.bodies import json_body, json_body_openapi
from resync_fastapi.api.v1.dependencies import (
    CurrentUser,
    DbConn,
    Engine,
    RequireAdmin,
    RequireOperator,
)
from resync_fastapi.api.v1.params import AuditStatus, AuditText, ExportFormat, Limit, Offset
from resync_fastapi.core.exceptions import Conflict, NotFound
from resync_fastapi.core.responses import dumps, format_timestamp
from resync_fastapi.core.routing import ResyncRoute
from resync_fastapi.db import tables, utcnow
from resync_fastapi.db.async_core import AsyncEngine
from resync_fastapi.db.pages import fetch_page
from resync_fastapi.models import (
    AuditItemOut,
    AuditMetricsOut,
    Page,
    ReviewIn,
    problem_responses,
)
from resync_fastapi.models.audit import AUDIT_KEYS

__all__ = ["router"]

router = APIRouter(
    route_class=ResyncRoute, prefix="/audit", tags=["audit"], responses=problem_responses(401)
)

_i = tables.audit_items.c
_COLUMNS = tuple(getattr(_i, key) for key in AUDIT_KEYS)
EXPORT_BATCH = 500
logger = structlog.get_logger("resync_fastapi.audit")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@router.get("/flags", response_model=Page[AuditItemOut], responses=problem_responses(400))
async def list_flags(
    user: CurrentUser,
    conn: DbConn,
    status: AuditStatus = "pending",
    q: AuditText = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Items in one state (or all), optionally matching a text, newest first."""
    conditions = []
    if status != "all":
        conditions.append(_i.status == status)
    if q:
        needle = f"%{_escape_like(q)}%"
        conditions.append(
            sa.or_(
                _i.user_query.ilike(needle, escape="\\"),
                _i.agent_response.ilike(needle, escape="\\"),
            )
        )
    where = sa.and_(sa.true(), *conditions)
    rows, total = await fetch_page(
        conn,
        sa.select(*_COLUMNS).where(where).order_by(_i.created_at.desc(), _i.id.desc()),
        limit=limit,
        offset=offset,
    )
    return {
        "items": rows,
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.post(
    "/review",
    response_model=AuditItemOut,
    openapi_extra=json_body_openapi(ReviewIn),
    responses=problem_responses(400, 403, 404, 409, 415),
)
async def review(
    user: RequireOperator,
    body: Annotated[ReviewIn, Depends(json_body(ReviewIn))],
    conn: DbConn,
) -> dict[str, Any]:
    """Approve or reject a pending item."""
    new_status = "approved" if body.action == "approve" else "rejected"
    updated = await conn.execute(
        sa.update(tables.audit_items)
        .where(_i.memory_id == body.memory_id, _i.status == "pending")
        .values(status=new_status, reviewed_at=utcnow(), reviewed_by=user.username)
    )
    row = (await conn.execute(sa.select(*_COLUMNS).where(_i.memory_id == body.memory_id))).first()
    if row is None:
        raise NotFound(f"Audit item {body.memory_id} not found.")
    if updated.rowcount == 0:
        raise Conflict(f"Audit item {body.memory_id} is already {row.status}.")
    return dict(row._mapping)


@router.get("/metrics", response_model=AuditMetricsOut)
async def metrics(user: CurrentUser, conn: DbConn) -> dict[str, int]:
    """Count the items in each state."""
    rows = await conn.execute(sa.select(_i.status, sa.func.count()).group_by(_i.status))
    counts = {"pending": 0, "approved": 0, "rejected": 0}
    for status, count in rows:
        counts[status] = count
    return {**counts, "total": sum(counts.values())}


async def _batches(engine: AsyncEngine) -> AsyncIterator[list[dict[str, Any]]]:
    last_id = 0
    while True:
        # A short connection per batch: a slow client never pins a pooled connection.
        try:
            async with engine.connect() as conn:
                rows = (
                    await conn.execute(
                        sa.select(*_COLUMNS)
                        .where(_i.id > last_id)
                        .order_by(_i.id)
                        .limit(EXPORT_BATCH)
                    )
                ).all()
        except Exception:
            # The status line is gone already: log, and let the server abort the response so
            # the client sees a broken transfer rather than a short file.
            logger.exception("export_failed", after_id=last_id)
            raise
        if not rows:
            return
        last_id = rows[-1].id
        yield [dict(row._mapping) for row in rows]


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    item["created_at"] = format_timestamp(item["created_at"])
    item["reviewed_at"] = format_timestamp(item["reviewed_at"])
    return item


async def _ndjson(engine: AsyncEngine) -> AsyncIterator[bytes]:
    async for batch in _batches(engine):
        yield b"".join(dumps(_plain(item)) + b"\n" for item in batch)


async def _csv(engine: AsyncEngine) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(AUDIT_KEYS)
    yield buffer.getvalue().encode("utf-8")
    async for batch in _batches(engine):
        buffer.seek(0)
        buffer.truncate()
        for item in batch:
            plain = _plain(item)
            writer.writerow(["" if plain[key] is None else plain[key] for key in AUDIT_KEYS])
        yield buffer.getvalue().encode("utf-8")


_EXPORTS = {
    "ndjson": (_ndjson, "application/x-ndjson"),
    "csv": (_csv, "text/csv; charset=utf-8"),
}


@router.get(
    "/export",
    response_class=StreamingResponse,
    response_model=None,
    responses={
        200: {"content": {"application/x-ndjson": {}, "text/csv": {}}},
        **problem_responses(400, 403),
    },
)
async def export(
    admin: RequireAdmin, engine: Engine, format: ExportFormat = "ndjson"
) -> StreamingResponse:
    """Stream every item, ordered by id, as NDJSON or CSV (never built in memory)."""
    produce, content_type = _EXPORTS[format]
    return StreamingResponse(
        produce(engine),
        headers={
            "Content-Type": content_type,
            "Content-Disposition": f'attachment; filename="audit-export.{format}"',
        },
    )
