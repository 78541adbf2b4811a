"""Fetch one page of a query and the total it pages through, in one round trip.

``count(*) OVER ()`` is computed before ``LIMIT``/``OFFSET``, so every row of the page carries the
total; only an empty page (an offset past the end) needs a second, counting query. On SQLite
every statement costs several thread hops through aiosqlite, so this halves a list's cost.

A route whose query never changes builds its :class:`PageQuery` once, at import: ``limit`` and
``offset`` are then bound per execution, and no statement is built per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from resync_fastapi.db.async_core import AsyncConnection

__all__ = ["PageQuery", "fetch_page"]

_TOTAL = "_page_total"
_LIMIT = "_page_limit"
_OFFSET = "_page_offset"


@dataclass(frozen=True, slots=True)
class PageQuery:
    """A query's page statement (rows and total) and its count-only fallback, built once."""

    paged: sa.Select[Any]
    counted: sa.Select[Any]

    @classmethod
    def of(cls, query: sa.Select[Any]) -> PageQuery:
        """Derive both statements from ``query``; ``limit``/``offset`` stay bind parameters."""
        paged = (
            query.add_columns(sa.func.count().over().label(_TOTAL))
            .limit(sa.bindparam(_LIMIT, type_=sa.Integer))
            .offset(sa.bindparam(_OFFSET, type_=sa.Integer))
        )
        counted = sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
        return cls(paged, counted)


async def fetch_page(
    conn: AsyncConnection, query: sa.Select[Any] | PageQuery, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Return the rows of ``query`` in ``limit``/``offset`` as dicts, and the total count."""
    page = query if isinstance(query, PageQuery) else PageQuery.of(query)
    rows = (await conn.execute(page.paged, {_LIMIT: limit, _OFFSET: offset})).mappings().all()
    if rows:
        total = int(rows[0][_TOTAL])
        return [{key: row[key] for key in row if key != _TOTAL} for row in rows], total
    return [], int(await conn.scalar(page.counted) or 0)
