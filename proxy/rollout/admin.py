"""Serve the plans under ``/_strangler/plans`` (admin JWT), next to the rest of the admin API.

- ``GET  /_strangler/plans``: every plan with its state, current step, last gate figures, and
  who holds the autopilot lease;
- ``GET  /_strangler/plans/history?route=&limit=``: steps, rollbacks, pauses... newest first;
- ``POST /_strangler/plans``: set a route's plan (``steps`` a plan line or a list);
- ``POST /_strangler/plans/{pause|resume|promote|abort|delete}``: operate one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, StringConstraints
from starlette.responses import Response

from proxy.auth import Principal, require_admin
from proxy.errors import InvalidFlag, StoreError, StoreUnavailable, VersionConflict
from proxy.problems import AdminProblem, json_bytes
from proxy.rollout.autopilot import LEASE_NAME
from proxy.rollout.control import PlanActionRefused, plan_view
from proxy.rollout.plans import plan_from_mapping

if TYPE_CHECKING:
    from proxy.rollout.autopilot import Autopilot
    from proxy.rollout.control import PlanControl
    from proxy.rollout.storage import RolloutStore


class PlansRuntime(Protocol):
    """What the plans endpoints read of a proxy's rollout runtime (``wiring.Rollout`` has it)."""

    store: RolloutStore
    autopilot: Autopilot
    control: PlanControl
    enabled: bool


__all__ = ["PlansRuntime", "create_plans_router"]

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Admin = Annotated[Principal, Depends(require_admin)]


class PlanBody(BaseModel):
    """``POST /_strangler/plans``."""

    route: str
    steps: str | list[str]
    min_duration: float | str | None = None
    min_requests: int | None = Field(default=None, ge=0)
    rollback: str | None = None
    gates: dict[str, float | int] = Field(default_factory=dict)
    start: bool = True
    reason: Reason


class PlanAction(BaseModel):
    """``POST /_strangler/plans/{action}``."""

    route: str
    reason: Reason
    step: int | None = Field(default=None, ge=0)


def _json(body: Any, status: int = 200) -> Response:
    return Response(json_bytes(body), status_code=status, media_type="application/json")


def create_plans_router(rollout: PlansRuntime) -> APIRouter:
    """The plans endpoints for one proxy's rollout runtime."""
    router = APIRouter()

    def store_problem(exc: StoreError) -> AdminProblem:
        if isinstance(exc, VersionConflict):
            return AdminProblem(409, "The plan changed meanwhile; read it again and retry.")
        if isinstance(exc, StoreUnavailable):
            return AdminProblem(503, "The flag store is unreachable.")
        return AdminProblem(500, "The flag store failed.")

    @router.get("/_strangler/plans")
    async def list_plans(_: Admin) -> Response:
        try:
            documents = await rollout.store.plans()
            lease = await rollout.store.lease(LEASE_NAME)
        except StoreError as exc:
            raise store_problem(exc) from exc
        items = []
        for document in documents:
            try:
                items.append(plan_view(document))
            except InvalidFlag as exc:
                items.append({"route": document.route, "status": "invalid", "reason": str(exc)})
        return _json(
            {
                "items": items,
                "lease": None
                if lease is None
                else {
                    "holder": lease.holder,
                    "term": lease.term,
                    "expires_in": round(lease.expires_in, 3),
                },
                "worker": rollout.autopilot.worker_id,
                "autopilot": rollout.enabled,
            }
        )

    @router.get("/_strangler/plans/history")
    async def history(
        _: Admin,
        route: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> Response:
        try:
            entries = await rollout.store.history(route=route or None, limit=limit)
        except StoreError as exc:
            raise store_problem(exc) from exc
        return _json(
            {
                "items": [
                    {"id": e.id, "route": e.route, "at": round(e.at, 3), **e.body} for e in entries
                ]
            }
        )

    @router.post("/_strangler/plans")
    async def set_plan(body: PlanBody, admin: Admin) -> Response:
        data: dict[str, Any] = {"steps": body.steps, "gates": body.gates}
        for name in ("min_duration", "min_requests", "rollback"):
            value = getattr(body, name)
            if value is not None:
                data[name] = value
        try:
            plan = plan_from_mapping(body.route, data)
            await rollout.control.put(
                plan, actor=admin.subject, reason=body.reason, start=body.start
            )
            document = await rollout.store.plan(body.route)
        except InvalidFlag as exc:
            raise AdminProblem(
                400,
                exc.reason,
                errors=[{"field": "steps", "code": "invalid_format", "message": exc.reason}],
            ) from exc
        except PlanActionRefused as exc:
            raise AdminProblem(exc.status, exc.message) from exc
        except StoreError as exc:
            raise store_problem(exc) from exc
        assert document is not None
        return _json(plan_view(document), 201)

    @router.post("/_strangler/plans/{action}")
    async def act(action: str, body: PlanAction, admin: Admin) -> Response:
        try:
            if action == "delete":
                await rollout.control.delete(body.route, actor=admin.subject, reason=body.reason)
                return _json({"route": body.route, "deleted": True})
            if action not in ("pause", "resume", "promote", "abort"):
                raise AdminProblem(404, "The requested URL was not found.")
            view = await rollout.control.act(
                body.route, action, actor=admin.subject, reason=body.reason, to_step=body.step
            )
        except PlanActionRefused as exc:
            raise AdminProblem(exc.status, exc.message) from exc
        except StoreError as exc:
            raise store_problem(exc) from exc
        return _json(view)

    return router
