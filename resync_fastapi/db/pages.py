"""Fetch one page of a query and the total it pages through, in one round trip.

``count(*) OVER ()`` is computed before ``LIMIT``/``OFFSET``, so every row of the page carries the
total; only an empty page (an offset past the end) needs a second, counting query. On SQLite
every statement costs several thread hops through aiosqlite, so this halves a list's cost.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["fetch_page"]

_TOTAL = "_page_total"


async def fetch_page(
    conn: AsyncConnection, query: sa.Select[Any], *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Return the rows of ``query`` in ``limit``/``offset`` as dicts, and the total count."""
    paged = query.add_columns(sa.func.count().over().label(_TOTAL)).limit(limit).offset(offset)
    rows = (await conn.execute(paged)).mappings().all()
    if rows:
        total = int(rows[0][_TOTAL])
        return [{key: row[key] for key in row if key != _TOTAL} for row in rows], total
    counted = sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    return [], int(await conn.scalar(counted) or 0)
