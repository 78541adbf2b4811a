"""Upload, list, show, delete and search the RAG documents."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, request
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import FileStorage

from legacy_flask.access import current_user, require_role
from legacy_flask.app_state import state
from legacy_flask.database import db, utcnow
from legacy_flask.encoding import json_response, no_content
from legacy_flask.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from legacy_flask.rag_search import search_chunks
from legacy_flask.tables import rag_chunks, rag_files
from legacy_flask.validation import FieldErrors
from migrations.chunking import chunk_text

__all__ = ["bp"]

bp = Blueprint("rag", __name__, url_prefix="/api/v1/rag")

CONTENT_TYPES = {
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".json": "application/json",
}
_FILENAME = re.compile(r"[A-Za-z0-9._ -]{1,255}")
FILE_KEYS = ("id", "filename", "size", "sha256", "content_type", "chunks", "created_at")


def _file_json(row: Any) -> dict[str, Any]:
    return {key: row[key] for key in FILE_KEYS}


def _invalid_file(message: str) -> ValidationFailed:
    return ValidationFailed([{"field": "file", "code": "invalid_format", "message": message}])


_QUOTED_FILENAME = re.compile(r'filename="((?:[^"\\]|\\.)*)"', re.IGNORECASE)


def _client_filename(upload: FileStorage) -> str:
    """The filename as the client wrote it, backslashes included.

    Werkzeug un-escapes a quoted ``filename`` (``C:\\dir\\a.txt`` becomes ``C:dira.txt``);
    clients that send Windows paths do not escape them, so the raw header value is used and a
    backslash is treated as a path separator, never as an escape.
    """
    disposition = upload.headers.get("Content-Disposition", "")
    match = _QUOTED_FILENAME.search(disposition)
    return match.group(1) if match else upload.filename or ""


def _last_component(filename: str) -> str:
    """Reduce a client's filename to its last path component (either slash)."""
    return filename.replace("\\", "/").rsplit("/", 1)[-1]


def _extension(filename: str) -> str:
    """The lower-cased text after the last dot, with the dot; empty when there is none."""
    _stem, dot, suffix = filename.rpartition(".")
    return f".{suffix.lower()}" if dot and suffix else ""


def _uploaded_file() -> FileStorage:
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType("Expected multipart/form-data.")
    files = request.files.getlist("file")
    if not files:
        raise ValidationFailed([{"field": "file", "code": "missing", "message": "Field required."}])
    return files[-1]


@bp.post("/upload")
@require_role("operator")
def upload() -> Response:
    upload = _uploaded_file()
    filename = _last_component(_client_filename(upload))
    extension = _extension(filename)
    if extension not in CONTENT_TYPES:
        raise UnsupportedMediaType(
            f"Unsupported file type: {extension}." if extension else "Unsupported file type."
        )
    if not _FILENAME.fullmatch(filename) or filename.startswith("."):
        raise _invalid_file(
            "The filename must be 1 to 255 of A-Z a-z 0-9 . _ - and space, not starting with '.'."
        )
    max_bytes = state().settings.rag_max_bytes
    raw = upload.stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"The file exceeds the limit of {max_bytes} bytes.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid_file("The file is not valid UTF-8.") from exc
    digest = hashlib.sha256(raw).hexdigest()
    _refuse_duplicate(digest)
    chunks = chunk_text(text)
    row = {
        "id": str(uuid.uuid4()),
        "filename": filename,
        "size": len(raw),
        "sha256": digest,
        "content_type": CONTENT_TYPES[extension],
        "chunks": len(chunks),
        "created_at": utcnow(),
    }
    try:
        db().execute(rag_files.insert().values(uploaded_by=current_user().username, **row))
    except IntegrityError as exc:  # the same content uploaded concurrently
        raise Conflict("A file with the same content already exists.") from exc
    if chunks:
        db().execute(
            rag_chunks.insert(),
            [
                {"file_id": row["id"], "chunk_index": index, "content": chunk}
                for index, chunk in enumerate(chunks)
            ],
        )
    return json_response(_file_json(row), status=201)


def _refuse_duplicate(digest: str) -> None:
    existing = db().execute(sa.select(rag_files.c.id).where(rag_files.c.sha256 == digest)).first()
    if existing is not None:
        raise Conflict(
            "A file with the same content already exists.", extra={"existing_id": existing.id}
        )


@bp.get("/files")
@require_role("viewer")
def list_files() -> Response:
    fields = FieldErrors()
    limit, offset = fields.pagination()
    fields.raise_if_any()
    total = db().execute(sa.select(sa.func.count()).select_from(rag_files)).scalar_one()
    rows = db().execute(
        sa.select(rag_files)
        .order_by(rag_files.c.created_at.desc(), rag_files.c.id)
        .limit(limit)
        .offset(offset)
    )
    return json_response(
        {
            "items": [_file_json(row._mapping) for row in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
        }
    )


def _file_or_404(file_id: str) -> Any:
    row = db().execute(sa.select(rag_files).where(rag_files.c.id == file_id)).first()
    if row is None:
        raise NotFound(f"File {file_id} not found.")
    return row


@bp.get("/files/<file_id>")
@require_role("viewer")
def get_file(file_id: str) -> Response:
    return json_response(_file_json(_file_or_404(file_id)._mapping))


@bp.delete("/files/<file_id>")
@require_role("admin")
def delete_file(file_id: str) -> Response:
    _file_or_404(file_id)
    # Chunks first (their FTS trigger keeps the index in step), then the file.
    db().execute(rag_chunks.delete().where(rag_chunks.c.file_id == file_id))
    db().execute(rag_files.delete().where(rag_files.c.id == file_id))
    return no_content()


@bp.get("/search")
@require_role("viewer")
def search() -> Response:
    fields = FieldErrors()
    q = fields.query_string("q", required=True, min_length=1, max_length=200)
    top_k = fields.query_int("top_k", default=5, minimum=1, maximum=20)
    fields.raise_if_any()
    assert q is not None
    results = search_chunks(db(), q, top_k)
    return json_response({"query": q, "results": results, "total": len(results)})
