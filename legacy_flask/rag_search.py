"""Search the document chunks with the database's own full-text engine.

SQLite: the FTS5 table ``rag_chunks_fts`` (porter, unicode61), score ``-bm25`` so that higher is
better. PostgreSQL: the generated ``tsv`` column, score ``ts_rank_cd``. Either way the score is
rounded to 4 places in SQL and results are ordered by it, then file id, then chunk index.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

__all__ = ["search_chunks", "search_terms"]

_TERM = re.compile(r"\w+")

_SQLITE = sa.text(
    "SELECT c.file_id, f.filename, c.chunk_index, c.content,"
    " round(-bm25(rag_chunks_fts), 4) AS score"
    " FROM rag_chunks_fts"
    " JOIN rag_chunks AS c ON c.id = rag_chunks_fts.rowid"
    " JOIN rag_files AS f ON f.id = c.file_id"
    " WHERE rag_chunks_fts MATCH :query"
    " ORDER BY score DESC, c.file_id, c.chunk_index"
    " LIMIT :top_k"
)
_POSTGRESQL = sa.text(
    "SELECT c.file_id, f.filename, c.chunk_index, c.content,"
    " round(ts_rank_cd(c.tsv, q.query)::numeric, 4) AS score"
    " FROM rag_chunks AS c"
    " JOIN rag_files AS f ON f.id = c.file_id"
    " CROSS JOIN to_tsquery('english', :query) AS q(query)"
    " WHERE c.tsv @@ q.query"
    " ORDER BY score DESC, c.file_id, c.chunk_index"
    " LIMIT :top_k"
)


def search_terms(query: str) -> list[str]:
    """Split a query into lower-cased word terms."""
    return _TERM.findall(query.lower())


def search_chunks(connection: Connection, query: str, top_k: int) -> list[dict[str, Any]]:
    """Return the ``top_k`` best chunks for ``query`` (no terms: no results)."""
    terms = search_terms(query)
    if not terms:
        return []
    if connection.dialect.name == "postgresql":
        statement, expression = _POSTGRESQL, " | ".join(terms)
    else:
        statement, expression = _SQLITE, " OR ".join(f'"{term}"' for term in terms)
    rows = connection.execute(statement, {"query": expression, "top_k": top_k})
    return [
        {
            "file_id": row.file_id,
            "filename": row.filename,
            "chunk_index": row.chunk_index,
            "content": row.content,
            "score": float(row.score),
        }
        for row in rows
    ]
