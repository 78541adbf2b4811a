"""How this worker is doing: ``/_strangler/health`` (no token), stats, progress, ``/metrics``."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from proxy.admin.common import Admin, json_response
from proxy.admin.context import AdminContext
from proxy.flags.changes import route_states
from proxy.modes import Mode
from proxy.shadow.names import ERROR, MATCH, MISMATCH
from proxy.telemetry.metrics import CONTENT_TYPE

__all__ = ["create_health_router"]


def create_health_router(context: AdminContext) -> APIRouter:
    """Health, rolling stats, migration progress and the Prometheus text of one worker."""
    router = APIRouter()

    @router.get("/_strangler/health")
    async def health() -> Response:
        watcher = context.watcher
        up = watcher.healthy
        refusal = watcher.refusal
        body: dict[str, Any] = {
            "status": "ok" if up and refusal is None else "degraded",
            "store": "ok" if up else "unreachable",
            "version": context.table_version(),
            "worker": os.getpid(),  # which worker answered: versions are per worker
        }
        if refusal is not None:  # the store answers, but with a table this proxy refuses
            body["store"] = "refusing" if up else "unreachable"
            body["refused"] = refusal
        return json_response(body)

    @router.get("/_strangler/stats")
    async def stats(_: Admin) -> Response:
        routes: dict[str, dict[str, Any]] = context.stats.snapshot()
        for route, counts in context.metrics.shadow_counts().items():
            routes.setdefault(route, {})["shadow"] = counts
        return json_response({"window_seconds": context.stats.window, "routes": routes})

    @router.get("/_strangler/progress")
    async def progress(_: Admin) -> Response:
        states = route_states(context.inventory, context.flags)
        by_mode = {mode.value: 0 for mode in Mode}
        for state in states:
            by_mode[state.flag.mode.value] += 1
        covered = passing = 0
        for counts in context.metrics.shadow_counts().values():
            if counts[MATCH] or counts[MISMATCH]:
                covered += 1
                passing += not counts[MISMATCH] and not counts[ERROR]
        parity = {"covered": covered, "passing": passing if context.shadow_enabled else None}
        return json_response({"total": len(states), "by_mode": by_mode, "parity": parity})

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(context.metrics.exposition(), media_type=CONTENT_TYPE)

    return router
