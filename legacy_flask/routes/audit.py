"""Read, review, count and export the audit queue."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
import structlog
from flask import Blueprint, Response, g, stream_with_context

from legacy_flask.access import current_user, require_role
from legacy_flask.app_state import state
from legacy_flask.database import db, utcnow
from legacy_flask.encoding import dumps, format_timestamp, json_response
from legacy_flask.errors import Conflict, NotFound
from legacy_flask.tables import audit_items
from legacy_flask.validation import FieldErrors, read_json_object

__all__ = ["bp"]

bp = Blueprint("audit", __name__, url_prefix="/api/v1/audit")

STATUSES = ("pending", "approved", "rejected")
ITEM_KEYS = (
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
_ACTIONS = {"approve": "approved", "reject": "rejected"}
_EXPORT_BATCH = 500
logger = structlog.get_logger("legacy_flask")


def _item_json(row: Any) -> dict[str, Any]:
    mapping = row._mapping
    return {key: mapping[key] for key in ITEM_KEYS}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@bp.get("/flags")
@require_role("viewer")
def flags() -> Response:
    fields = FieldErrors()
    status = fields.query_choice("status", (*STATUSES, "all"), default="pending")
    q = fields.query_string("q", max_length=200)
    limit, offset = fields.pagination()
    fields.raise_if_any()
    conditions: list[sa.ColumnElement[bool]] = []
    if status != "all":
        conditions.append(audit_items.c.status == status)
    if q:
        pattern = f"%{_escape_like(q)}%"
        conditions.append(
            sa.or_(
                audit_items.c.user_query.ilike(pattern, escape="\\"),
                audit_items.c.agent_response.ilike(pattern, escape="\\"),
            )
        )
    total = (
        db()
        .execute(sa.select(sa.func.count()).select_from(audit_items).where(*conditions))
        .scalar_one()
    )
    rows = db().execute(
        sa.select(audit_items)
        .where(*conditions)
        .order_by(audit_items.c.created_at.desc(), audit_items.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return json_response(
        {"items": [_item_json(r) for r in rows], "total": total, "limit": limit, "offset": offset}
    )


@bp.post("/review")
@require_role("operator")
def review() -> Response:
    body = read_json_object()
    fields = FieldErrors()
    memory_id = fields.string(body, "memory_id")
    action = fields.choice(body, "action", tuple(_ACTIONS))
    fields.raise_if_any()
    assert memory_id is not None and action is not None
    item = db().execute(sa.select(audit_items).where(audit_items.c.memory_id == memory_id)).first()
    if item is None:
        raise NotFound(f"Audit item {memory_id} not found.")
    if item.status != "pending":
        raise Conflict(f"Audit item {memory_id} is already {item.status}.")
    updated = db().execute(
        audit_items.update()
        .where(audit_items.c.id == item.id, audit_items.c.status == "pending")
        .values(status=_ACTIONS[action], reviewed_at=utcnow(), reviewed_by=current_user().username)
    )
    current = db().execute(sa.select(audit_items).where(audit_items.c.id == item.id)).one()
    if updated.rowcount != 1:  # reviewed by someone else between our read and our write
        raise Conflict(f"Audit item {memory_id} is already {current.status}.")
    return json_response(_item_json(current))


@bp.get("/metrics")
@require_role("viewer")
def metrics() -> Response:
    counts = dict.fromkeys(STATUSES, 0)
    rows = db().execute(
        sa.select(audit_items.c.status, sa.func.count()).group_by(audit_items.c.status)
    )
    for status, count in rows:
        counts[status] = count
    return json_response({**counts, "total": sum(counts.values())})


def _export_rows() -> Iterator[dict[str, Any]]:
    """Read every item in id order, a batch at a time, each batch on a short connection.

    The status line has gone out when this runs, so a failure cannot become a problem answer:
    it is logged and re-raised, and the server cuts the response short (a client sees a
    truncated transfer, never a complete-looking file).
    """
    engine = state().engine
    last_id = 0
    try:
        while True:
            with engine.connect() as connection:
                batch = connection.execute(
                    sa.select(audit_items)
                    .where(audit_items.c.id > last_id)
                    .order_by(audit_items.c.id)
                    .limit(_EXPORT_BATCH)
                ).all()
            if not batch:
                return
            for row in batch:
                yield _item_json(row)
            last_id = batch[-1].id
    except Exception:
        logger.exception("export_failed", request_id=g.get("request_id", ""))
        raise


def _ndjson_lines() -> Iterator[bytes]:
    for item in _export_rows():
        yield (dumps(item) + "\n").encode("utf-8")


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if hasattr(value, "strftime"):
        return format_timestamp(value)
    return value


def _csv_lines() -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(ITEM_KEYS)
    for item in _export_rows():
        writer.writerow([_csv_cell(item[key]) for key in ITEM_KEYS])
        yield buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():  # no items: the header alone
        yield buffer.getvalue().encode("utf-8")


@bp.get("/export")
@require_role("admin")
def export() -> Response:
    fields = FieldErrors()
    fmt = fields.query_choice("format", ("ndjson", "csv"), default="ndjson")
    fields.raise_if_any()
    if fmt == "csv":
        body, content_type = _csv_lines(), "text/csv; charset=utf-8"
    else:
        body, content_type = _ndjson_lines(), "application/x-ndjson"
    response = Response(stream_with_context(body), content_type=content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="audit-export.{fmt}"'
    return response
