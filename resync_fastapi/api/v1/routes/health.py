"""``/health``: liveness (the process answers) and readiness (database and TWS answer)."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from fastapi import APIRouter

from resync_fastapi.api.v1.dependencies import Engine, Tws
from resync_fastapi.core.exceptions import ServiceUnavailable
from resync_fastapi.core.routing import ResyncRoute
from resync_fastapi.models import LiveOut, ReadyOut, problem_responses

__all__ = ["router"]

router = APIRouter(route_class=ResyncRoute, prefix="/health", tags=["health"])


@router.get("/live", response_model=LiveOut)
async def live() -> dict[str, str]:
    """Answer as long as the process serves requests."""
    return {"status": "ok"}


async def _database_ok(engine: Engine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
    except Exception:  # any failure means not ready; the reason is not the client's business
        return False
    return True


async def _tws_ok(tws: Tws) -> bool:
    try:
        await tws.current_plan()
    except Exception:
        return False
    return True


@router.get("/ready", response_model=ReadyOut, responses=problem_responses(503))
async def ready(engine: Engine, tws: Tws) -> dict[str, object]:
    """Check the database (``SELECT 1``) and TWS (``GET /plan/current``) concurrently."""
    database, tws_ok = await asyncio.gather(_database_ok(engine), _tws_ok(tws))
    checks = {"database": "ok" if database else "error", "tws": "ok" if tws_ok else "error"}
    if not (database and tws_ok):
        failing = ", ".join(name for name, state in checks.items() if state != "ok")
        raise ServiceUnavailable(f"Not ready: {failing}.", extra={"checks": checks})
    return {"status": "ready", "checks": checks}
