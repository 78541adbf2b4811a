"""``GET /_strangler/events``: the flag changes recorded in the store, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from proxy.admin.common import Admin, json_response
from proxy.admin.context import AdminContext
from proxy.errors import StoreError
from proxy.problems import AdminProblem

__all__ = ["create_events_router"]


def create_events_router(context: AdminContext) -> APIRouter:
    """The event log's route for one worker's admin context."""
    router = APIRouter()
    service = context.flag_service

    @router.get("/_strangler/events")
    async def events(
        _: Admin,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
        route: str | None = None,
    ) -> Response:
        try:
            page = await service.events(limit=limit, offset=offset, route=route or None)
        except StoreError as exc:
            raise AdminProblem(503, "The flag store is unreachable.") from exc
        return json_response(page)

    return router
