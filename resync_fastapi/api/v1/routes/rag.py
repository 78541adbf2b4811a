"""``/rag``: documents for retrieval (viewer reads and searches, operator uploads, admin deletes).

The upload is checked in the documented order: multipart (415), a ``file`` field (400), the
extension (415), the filename (400), the size (413), UTF-8 (400), then duplicates (409 with
``existing_id``).
"""

from __future__ import annotations

import uuid
from typing import Any

import anyio.to_thread
import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from sqlalchemy.exc import IntegrityError
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException

from resync_fastapi.api.v1.bodies import media_type
from resync_fastapi.api.v1.dependencies import (
    AppSettings,
    CurrentUser,
    DbConn,
    RequireAdmin,
    RequireOperator,
)
from resync_fastapi.api.v1.params import Limit, Offset, SearchQuery, TopK
from resync_fastapi.core.exceptions import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from resync_fastapi.core.multipart import read_form
from resync_fastapi.core.routing import ResyncRoute
from resync_fastapi.db import tables, utcnow
from resync_fastapi.db.async_core import AsyncConnection
from resync_fastapi.db.pages import fetch_page
from resync_fastapi.models import Page, RagFileOut, SearchOut, problem_responses
from resync_fastapi.services import documents

__all__ = ["UPLOAD_PATH", "router"]

router = APIRouter(
    route_class=ResyncRoute, prefix="/rag", tags=["rag"], responses=problem_responses(401)
)
UPLOAD_PATH = "/api/v1/rag/upload"

_f = tables.rag_files.c
_PUBLIC = (_f.id, _f.filename, _f.size, _f.sha256, _f.content_type, _f.chunks, _f.created_at)

# What the upload checks, as the spec can say it: the part's filename (its extension, then its
# characters) in the Content-Disposition header, text in one of the four types, UTF-8.
# A path before the name is dropped (either slash), so only the last component is checked.
UPLOAD_FILENAME_PATTERN = (
    r'filename="(?:[^"]*[/\\])?(?=[^"/\\]{1,255}")[A-Za-z0-9_ -][A-Za-z0-9._ -]*'
    r'\.([Tt][Xx][Tt]|[Mm][Dd]|[Cc][Ss][Vv]|[Jj][Ss][Oo][Nn])"'
)
UPLOAD_CONTENT_TYPES = ("text/plain", "text/markdown", "text/csv", "application/json")
_UPLOAD_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": (
                                "A UTF-8 text file: .txt, .md, .csv or .json (by the filename's"
                                " extension, any case); the filename is 1 to 255 of A-Z a-z 0-9"
                                " . _ - and space, not starting with '.'; at most"
                                " RESYNC_RAG_MAX_BYTES (5 MiB by default)."
                            ),
                        }
                    },
                },
                "encoding": {
                    "file": {
                        "contentType": ", ".join(UPLOAD_CONTENT_TYPES),
                        "headers": {
                            "Content-Disposition": {
                                "required": True,
                                "schema": {"type": "string", "pattern": UPLOAD_FILENAME_PATTERN},
                                "example": 'form-data; name="file"; filename="runbook.txt"',
                            }
                        },
                    }
                },
            }
        },
    }
}


def _invalid_file(code: str, message: str) -> ValidationFailed:
    return ValidationFailed([{"field": "file", "code": code, "message": message}])


async def _read_form(request: Request) -> FormData:
    if media_type(request.headers.get("content-type")) != "multipart/form-data":
        raise UnsupportedMediaType("Expected multipart/form-data.")
    try:
        return await read_form(request, max_files=16, max_fields=64)
    except MultiPartException:
        # A body that is not valid multipart (no boundary, truncated) carries no file; the
        # legacy app's form parser reports it the same way.
        raise _invalid_file("missing", "Field required.") from None


@router.post(
    "/upload",
    status_code=201,
    response_model=RagFileOut,
    openapi_extra=_UPLOAD_OPENAPI,
    responses=problem_responses(400, 403, 409, 413, 415),
)
async def upload(
    request: Request, user: RequireOperator, conn: DbConn, settings: AppSettings
) -> dict[str, Any]:
    """Store a document and its chunks for search."""
    form = await _read_form(request)
    try:
        return await _store(form, user.username, conn, settings.rag_max_bytes)
    finally:
        await form.close()  # spooled temporary files


async def _store(
    form: FormData, username: str, conn: AsyncConnection, limit: int
) -> dict[str, Any]:
    # The last ``file`` part that is a file wins; plain text fields of that name do not count.
    uploads = [item for item in form.getlist("file") if isinstance(item, UploadFile)]
    if not uploads:
        raise _invalid_file("missing", "Field required.")
    upload = uploads[-1]
    filename = documents.reduce_filename(upload.filename or "")
    suffix = documents.extension(filename)
    if suffix not in documents.CONTENT_TYPES:
        raise UnsupportedMediaType(
            f"Unsupported file type: {suffix}." if suffix else "Unsupported file type."
        )
    if not documents.filename_is_safe(filename):
        raise _invalid_file(
            "invalid_format",
            "The filename must be 1 to 255 of A-Z a-z 0-9 . _ - and space, not starting with '.'.",
        )
    if upload.size is not None and upload.size > limit:
        raise PayloadTooLarge(f"The file exceeds the limit of {limit} bytes.")
    raw = await upload.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge(f"The file exceeds the limit of {limit} bytes.")
    prepared = await anyio.to_thread.run_sync(documents.prepare, raw)
    if prepared.text is None:
        raise _invalid_file("invalid_format", "The file is not valid UTF-8.")

    duplicate_id = await conn.scalar(sa.select(_f.id).where(_f.sha256 == prepared.sha256))
    if duplicate_id is not None:
        raise Conflict(
            "A file with the same content already exists.", extra={"existing_id": duplicate_id}
        )
    record = {
        "id": str(uuid.uuid4()),
        "filename": filename,
        "size": len(raw),
        "sha256": prepared.sha256,
        "content_type": documents.CONTENT_TYPES[suffix],
        "chunks": len(prepared.chunks),
        "created_at": utcnow(),
    }
    try:
        await conn.execute(sa.insert(tables.rag_files).values(**record, uploaded_by=username))
    except IntegrityError as exc:  # the same content was uploaded concurrently
        await conn.rollback()
        existing = await conn.scalar(sa.select(_f.id).where(_f.sha256 == prepared.sha256))
        raise Conflict(
            "A file with the same content already exists.", extra={"existing_id": existing}
        ) from exc
    if prepared.chunks:
        await conn.execute(
            sa.insert(tables.rag_chunks),
            [
                {"file_id": record["id"], "chunk_index": index, "content": chunk}
                for index, chunk in enumerate(prepared.chunks)
            ],
        )
    return record


@router.get("/files", response_model=Page[RagFileOut], responses=problem_responses(400))
async def list_files(
    user: CurrentUser, conn: DbConn, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    """List documents, newest first."""
    rows, total = await fetch_page(
        conn, sa.select(*_PUBLIC).order_by(_f.created_at.desc(), _f.id), limit=limit, offset=offset
    )
    return {
        "items": rows,
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.get("/files/{file_id}", response_model=RagFileOut, responses=problem_responses(404))
async def get_file(file_id: str, user: CurrentUser, conn: DbConn) -> dict[str, Any]:
    """Show one document."""
    row = (await conn.execute(sa.select(*_PUBLIC).where(_f.id == file_id))).first()
    if row is None:
        raise NotFound(f"File {file_id} not found.")
    return dict(row._mapping)


@router.delete(
    "/files/{file_id}",
    status_code=204,
    response_class=Response,
    response_model=None,
    responses=problem_responses(403, 404),
)
async def delete_file(file_id: str, admin: RequireAdmin, conn: DbConn) -> Response:
    """Delete a document and its chunks."""
    await conn.execute(sa.delete(tables.rag_chunks).where(tables.rag_chunks.c.file_id == file_id))
    deleted = await conn.execute(sa.delete(tables.rag_files).where(_f.id == file_id))
    if deleted.rowcount == 0:
        raise NotFound(f"File {file_id} not found.")
    return Response(status_code=204)


@router.get("/search", response_model=SearchOut, responses=problem_responses(400))
async def search(
    user: CurrentUser, conn: DbConn, q: SearchQuery, top_k: TopK = 5
) -> dict[str, Any]:
    """Full-text search over the chunks, best first."""
    results = await documents.search(conn, documents.search_terms(q), top_k)
    return {"query": q, "results": results, "total": len(results)}
