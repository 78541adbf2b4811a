"""``/_strangler/mismatches[/{id}]``: the shadow mismatches this worker's runner keeps."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from proxy.admin.common import Admin, json_response
from proxy.admin.context import AdminContext
from proxy.problems import AdminProblem

__all__ = ["create_mismatches_router"]


def create_mismatches_router(context: AdminContext) -> APIRouter:
    """The mismatch routes; empty answers (and 404s) without a mismatch store."""
    router = APIRouter()
    store = context.mismatch_store

    @router.get("/_strangler/mismatches")
    async def mismatches(
        _: Admin,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
        route: str | None = None,
    ) -> Response:
        route = route or None
        if store is None:
            items: list[Any] = []
            total = 0
        else:
            items = await asyncio.to_thread(store.list, route, limit, offset)
            total = await asyncio.to_thread(store.count, route)
        return json_response({"items": items, "total": total, "limit": limit, "offset": offset})

    @router.get("/_strangler/mismatches/{mismatch_id}")
    async def mismatch(mismatch_id: int, _: Admin) -> Response:
        record = await asyncio.to_thread(store.get, mismatch_id) if store is not None else None
        if record is None:
            raise AdminProblem(404, f"Mismatch {mismatch_id} not found.")
        return json_response(record)

    return router
