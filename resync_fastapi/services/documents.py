"""Check, decode and chunk uploaded documents, and search their chunks.

Chunking follows the contract and is the schema's (:func:`migrations.chunking.chunk_text`, the
same cut the seed and the legacy app make): paragraphs (separated by blank lines) are packed into
chunks of at most 1000 characters joined by a blank line; a longer paragraph is cut every 1000.
Search uses the database's own engine: SQLite FTS5 ``bm25`` (negated, so higher is better) or
PostgreSQL ``ts_rank_cd``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from migrations.chunking import chunk_text
from resync_fastapi.db.async_core import AsyncConnection

__all__ = [
    "CONTENT_TYPES",
    "PreparedDocument",
    "prepare",
    "reduce_filename",
    "search",
    "search_terms",
]

CONTENT_TYPES = {
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".json": "application/json",
}
_FILENAME = re.compile(r"[A-Za-z0-9._ -]{1,255}")
_TERM = re.compile(r"\w+")


def reduce_filename(raw: str) -> str:
    """Keep only the last path component (either separator) of a client's filename."""
    return re.split(r"[/\\]", raw)[-1]


def extension(filename: str) -> str:
    """The lowercased extension (``.txt``), or ``""`` when there is none."""
    _stem, dot, suffix = filename.rpartition(".")
    return f".{suffix.lower()}" if dot and suffix else ""


def filename_is_safe(filename: str) -> bool:
    """True if ``filename`` matches the allowed characters and does not start with a dot."""
    return bool(_FILENAME.fullmatch(filename)) and not filename.startswith(".")


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    """A decoded upload, its digest and its chunks (None text: not UTF-8)."""

    sha256: str
    text: str | None
    chunks: list[str]


def prepare(raw: bytes) -> PreparedDocument:
    """Hash, decode and chunk ``raw`` (CPU work: callers run it in a thread)."""
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return PreparedDocument(digest, None, [])
    return PreparedDocument(digest, text, chunk_text(text))


def search_terms(query: str) -> list[str]:
    """The lowercased word terms of ``query``."""
    return _TERM.findall(query.lower())


async def search(conn: AsyncConnection, terms: list[str], top_k: int) -> list[dict[str, Any]]:
    """Return up to ``top_k`` chunks matching any term, best first."""
    if not terms:
        return []
    if conn.dialect.name == "postgresql":
        sql = sa.text(
            "SELECT c.file_id, f.filename, c.chunk_index, c.content,"
            " round(ts_rank_cd(c.tsv, query)::numeric, 4) AS score"
            " FROM rag_chunks c JOIN rag_files f ON f.id = c.file_id,"
            " to_tsquery('english', :query) AS query"
            " WHERE c.tsv @@ query"
            " ORDER BY score DESC, c.file_id, c.chunk_index LIMIT :top_k"
        )
        query = " | ".join(terms)
    else:
        sql = sa.text(
            "SELECT c.file_id, f.filename, c.chunk_index, c.content,"
            " round(-bm25(rag_chunks_fts), 4) AS score"
            " FROM rag_chunks_fts JOIN rag_chunks c ON c.id = rag_chunks_fts.rowid"
            " JOIN rag_files f ON f.id = c.file_id"
            " WHERE rag_chunks_fts MATCH :query"
            " ORDER BY score DESC, c.file_id, c.chunk_index LIMIT :top_k"
        )
        query = " OR ".join(f'"{term}"' for term in terms)
    rows = await conn.execute(sql, {"query": query, "top_k": top_k})
    return [
        {
            "file_id": row.file_id,
            "filename": row.filename,
            "chunk_index": row.chunk_index,
            "content": row.content,
            "score": round(float(row.score), 4),
        }
        for row in rows
    ]
